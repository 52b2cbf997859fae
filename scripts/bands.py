"""Error of a search run's final network and of the layout prior, by ground-truth depth band and by class (test frames)."""
import sys, json
from pathlib import Path
import numpy as np
def main(tag):
    import torch; torch.set_num_threads(1)
    from cmadepth.config import Config
    from cmadepth.model import DepthNet, PoseNet
    from cmadepth.checkpoints import load_weights
    from cmadepth import train as T, evaluate as E
    from cmadepth.kitti import load_gt_depths
    run = Path('runs/search')/tag; cfg = Config.load(run/'config.yaml')
    net, pn = DepthNet(cfg.replace(pretrained=False)), PoseNet(cfg.replace(pretrained=False))
    load_weights(T.checkpoint_dirs(run)[-1], net, pn)
    gt = load_gt_depths(cfg.data_path, 'synth'); proto = 'synth'
    disps = E.predict_disparities(net, cfg, progress=False, device='cpu')
    prior = E.layout_prior(E.load_train_gt_depths(cfg.data_path, 'synth', 100), gt[0].shape)
    labels = E.load_eval_labels(cfg.data_path, 'synth', 'primary', sizes=[g.shape for g in gt])
    bands = [(0, 5), (5, 10), (10, 20), (20, 40), (40, 80)]
    classes = {0: 'road', 1: 'sidewalk', 2: 'building', 8: 'vegetation', 13: 'car', 5: 'pole'}
    acc = {}; far = {'net': [], 'prior': []}
    for d, g, lab in zip(disps, gt, labels):
        m = E.eval_mask(g, proto)
        pd_ = 1 / E.resize_map(d, g.shape); pp = prior.copy()
        for name, p in (('net', pd_), ('prior', pp)):
            p = p * np.median(g[m]) / np.median(p[m]); p = np.clip(p, 1e-3, 80)
            err = np.abs(p - g) / np.maximum(g, 1e-6)
            if (m & (g >= 5)).any(): far[name].append(err[m & (g >= 5)].mean())
            for lo, hi in bands:
                k = m & (g >= lo) & (g < hi); acc.setdefault((name, f'{lo}-{hi} m'), []).append(err[k])
            for c, cn in classes.items():
                k = m & (lab == c); acc.setdefault((name, cn), []).append(err[k])
    out = {}
    for (name, key), v in acc.items():
        v = np.concatenate(v); out.setdefault(key, {})[name] = (float(v.mean()) if len(v) else float('nan'), len(v))
    tot = sum(n for (_, n) in (out[k]['net'] for k in out if k.endswith(' m')))
    print(f"{tag}: pixel-averaged AbsRel by band/class (net vs prior; share of pixels)")
    print(f"  image-mean AbsRel without the pixels nearer than 5 m: net {np.mean(far['net']):.3f}, prior {np.mean(far['prior']):.3f}, ratio {np.mean(far['net'])/np.mean(far['prior']):.2f}")
    for k, v in out.items(): print(f"  {k:12s} net {v['net'][0]:.3f}  prior {v['prior'][0]:.3f}  share {v['net'][1]/tot:.2f}")
if __name__ == '__main__': main(sys.argv[1])
