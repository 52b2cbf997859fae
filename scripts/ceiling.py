"""One run of the data/preset search: render (once) the synthetic data a design names, train the depth network with the
exact (pose_source=gt) or the learned pose, and score it every `--every` steps on all test frames against the layout
prior on the same frames. Appends one JSON line per scoring to runs/search/results.jsonl.

    python scripts/ceiling.py --tag exact-s1 --speed 1.0 --pose gt --steps 500 --every 125
"""
import argparse, json, math, os, sys, time
from pathlib import Path
import numpy as np

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--tag', required=True)
    # data design
    ap.add_argument('--speed', type=float, default=0.3); ap.add_argument('--drives', type=int, default=26)
    ap.add_argument('--frames', type=int, default=40); ap.add_argument('--rh', type=int, default=96); ap.add_argument('--rw', type=int, default=320)
    ap.add_argument('--val-drives', type=int, default=2); ap.add_argument('--test-drives', type=int, default=8)
    ap.add_argument('--road-texture', type=float, default=0.0); ap.add_argument('--pitch-sd', type=float, default=0.0); ap.add_argument('--static', action='store_true')
    ap.add_argument('--data', default='', help='data folder (default: derived from the design)')
    # training
    ap.add_argument('--variant', default='full'); ap.add_argument('--height', type=int, default=64); ap.add_argument('--width', type=int, default=224)
    ap.add_argument('--batch', type=int, default=2); ap.add_argument('--steps', type=int, default=500); ap.add_argument('--every', type=int, default=125)
    ap.add_argument('--lr', type=float, default=2e-4); ap.add_argument('--drop', type=float, default=0.0, help='lr ×0.1 after this fraction of the steps (0: none)')
    ap.add_argument('--pose', default='net'); ap.add_argument('--gt-scale', type=float, default=0.05); ap.add_argument('--pts', type=float, default=0.01)
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--set', nargs='*', default=[], help='extra Config key=value')
    a = ap.parse_args(argv)
    import torch; torch.set_num_threads(a.threads)
    from cmadepth.config import Config
    from cmadepth.synthetic import generate
    from cmadepth import train as T, evaluate as E
    from cmadepth.kitti import load_gt_depths, split_lines
    from cmadepth.loader import make_loader
    extra = (f"_rt{a.road_texture}" if a.road_texture else '') + (f"_p{a.pitch_sd}" if a.pitch_sd else '') + ('_static' if a.static else '')
    data = Path(a.data or f"data/search/s{a.speed}_d{a.drives}_f{a.frames}_{a.rh}x{a.rw}{extra}")
    if not (data/'manifest.json').exists():
        t0 = time.time()
        generate(data, drives=a.drives, frames=a.frames, height=a.rh, width=a.rw, speed=a.speed, val_drives=a.val_drives,
                 test_drives=a.test_drives, workers=1, progress=False, road_texture=a.road_texture, pitch_sd=a.pitch_sd, moving=not a.static)
        print(f"rendered {data} in {time.time()-t0:.0f} s", flush=True)
    n_train = len(split_lines(data, 'synth', 'train'))
    spe = n_train // a.batch
    epochs = math.ceil(a.steps / spe) + 1
    ms = (a.drop * a.steps / spe,) if a.drop else ()
    cfg = Config.make(a.variant, 'quick', data_path=str(data), height=a.height, width=a.width, batch_size=a.batch,
                      max_steps=a.steps, epochs=epochs, lr=a.lr, lr_milestones=ms, pose_source=a.pose, gt_pose_scale=a.gt_scale,
                      pose_translation_scale=a.pts, seed=a.seed, log_dir='runs/search', name=a.tag)
    if a.set: cfg = cfg.override(a.set)
    gt = load_gt_depths(data, 'synth')
    proto = E.protocol_for_split('synth')
    prior = E.layout_prior_baseline(E.load_train_gt_depths(data, 'synth', 100), gt, proto).row['abs_rel']
    const = E.constant_depth_baseline(gt, proto).row['abs_rel']
    loader = make_loader(cfg, 'test', augment=False, shuffle=False, batch_size=16)
    out = Path('runs/search/results.jsonl'); out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    def score(step, dn, pn):
        if step % a.every and step != a.steps: return
        disps = E.predict_disparities(dn, cfg, loader=loader, progress=False, device='cpu')
        m = E.evaluate_predictions(disps, gt, proto).row
        depth = [1 / np.maximum(d, 1e-6) for d in disps]
        spread = float(np.median([np.std(x) / np.mean(x) for x in depth]))
        rec = dict(tag=a.tag, step=step, abs_rel=float(m['abs_rel']), a1=float(m['a1']), prior=float(prior), constant=float(const),
                   ratio=float(m['abs_rel']) / float(prior), spread=spread, minutes=(time.time() - t0) / 60,
                   args={k: v for k, v in vars(a).items() if k not in ('tag',)}, n_test=len(gt), n_train=n_train)
        with open(out, 'a') as f: f.write(json.dumps(rec) + '\n')
        print(f"{a.tag} step {step}: AbsRel {rec['abs_rel']:.3f} ({rec['ratio']:.2f} × prior {prior:.3f}; constant {const:.3f}) "
              f"a1 {rec['a1']:.3f} spread {spread:.3f} [{rec['minutes']:.1f} min]", flush=True)
    T.train(cfg, resume=False, progress=False, on_step=score)

if __name__ == '__main__': main()
