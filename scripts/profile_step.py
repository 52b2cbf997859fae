"""Where a training step's time goes: data loading, depth and pose forward, each loss part, backward, optimiser.

    python scripts/profile_step.py --variants monodepth2 full --threads 1 --steps 6
    PYTHONPATH=/tmp/base python scripts/profile_step.py ...      # the same profile of another checkout (any commit
                                                                 # with build_training, make_loader and compute_losses)

The step is the one `cmadepth-train` runs at the preset's shape (default quick): the next batch of the augmented
training loader, `train_step`'s work split into phases (timed with `perf_counter` around each; the loss parts by
wrapping the functions `compute_losses` calls), then one `torch.profiler` pass over the same steps that splits the
whole step into convolutions (forward, backward), matrix products, the optimiser and everything else (per-op self
time). Medians over `--steps` steps after `--warmup`; ms per step."""
import argparse, json, statistics, sys, time
from contextlib import contextmanager


def profile_step(variant='full', preset='quick', threads=1, steps=6, warmup=2, data_path='', ops=True, clock='wall')->dict:
    import torch
    torch.set_num_threads(threads)
    from cmadepth import losses as L
    from cmadepth.config import Config
    from cmadepth.loader import make_loader
    from cmadepth.model import predict_poses
    from cmadepth.train import build_training
    kw = dict(data_path=data_path) if data_path else {}
    cfg = Config.make(variant, preset, pretrained=False, **kw)
    loader = make_loader(cfg, 'train', augment=True, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    depth, pose, opt, _ = build_training(cfg, torch.device('cpu'), steps_per_epoch=len(loader))
    depth.train(); pose.train()
    T = {}
    now = time.process_time if clock == 'cpu' else time.perf_counter
    def add(k, dt): T.setdefault(k, [0.] * (warmup + steps))[cur[0]] += dt
    cur = [0]
    wrapped = {}
    for name, key in (('reprojection_loss', 'loss_reprojection'), ('smoothness_loss', 'loss_smoothness'),
                      ('cross_entropy', 'loss_ce'), ('sgt_parts', 'loss_sgt')):
        f = getattr(L, name, None)
        if f is None: continue
        def w(*a, _f=f, _k=key, **k):
            t = now(); r = _f(*a, **k); add(_k, now() - t); return r
        wrapped[name] = f; setattr(L, name, w)
    it = iter(loader)
    try:
        for k in range(warmup + steps):
            cur[0] = k
            t0 = now(); b = next(it); t1 = now(); add('data', t1 - t0)
            out = depth(b.image_aug); t2 = now(); add('depth_forward', t2 - t1)
            poses = predict_poses(pose, b, cfg); t3 = now(); add('pose_forward', t3 - t2)
            losses = L.compute_losses(cfg, b, out, poses); t4 = now(); add('losses', t4 - t3)
            opt.zero_grad(set_to_none=True); losses['total'].backward(); t5 = now(); add('backward', t5 - t4)
            opt.step(); t6 = now(); add('optimiser', t6 - t5)
            add('total', t6 - t0)
    finally:
        for name, f in wrapped.items(): setattr(L, name, f)
    med = {k: statistics.median(v[warmup:]) * 1e3 for k, v in T.items()}
    parts = sum(med.get(k, 0.) for k in ('loss_reprojection', 'loss_smoothness', 'loss_ce', 'loss_sgt'))
    med['loss_other'] = med['losses'] - parts
    row = dict(variant=variant, preset=preset, threads=torch.get_num_threads(), steps=steps, clock=clock,
               **{f'{k}_ms': round(v, 1) for k, v in med.items()})
    if ops:                                                   # per-op self time of the same kind of steps
        from torch.profiler import profile, ProfilerActivity
        cats = dict(conv_forward=('aten::mkldnn_convolution', 'aten::_slow_conv2d_forward', 'aten::thnn_conv2d'),
                    conv_backward=('aten::convolution_backward', 'aten::_slow_conv2d_backward', 'aten::col2im', 'aten::im2col'),
                    matmul=('aten::mm', 'aten::bmm', 'aten::addmm'), optimiser=('aten::_fused_adam_',))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(2):
                b = next(it)
                out = depth(b.image_aug); poses = predict_poses(pose, b, cfg)
                opt.zero_grad(set_to_none=True); L.compute_losses(cfg, b, out, poses)['total'].backward(); opt.step()
        tot, acc = 0., {k: 0. for k in cats}
        for e in prof.key_averages():
            tot += e.self_cpu_time_total
            for c, names in cats.items():
                if e.key in names: acc[c] += e.self_cpu_time_total
        row.update({f'ops_{c}_share': round(v / tot, 3) for c, v in acc.items()})
        row['ops_other_share'] = round(1 - sum(acc.values()) / tot, 3)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--variants', nargs='+', default=['monodepth2', 'full'])
    ap.add_argument('--preset', default='quick'); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=6); ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--data', default='', help="synthetic data folder (default: the preset's data_path)")
    ap.add_argument('--no-ops', action='store_true', help='skip the torch.profiler pass')
    ap.add_argument('--clock', default='wall', choices=['wall', 'cpu'], help='cpu: phases timed by process CPU time (for a busy machine, 1 thread)')
    ap.add_argument('--json', default='', help='also write the rows to this JSON file')
    a = ap.parse_args(argv)
    rows = [profile_step(v, a.preset, a.threads, a.steps, a.warmup, a.data, not a.no_ops, a.clock) for v in a.variants]
    keys = [k for k in rows[0] if k.endswith(('_ms', '_share'))]
    print(f"preset {a.preset}, {a.threads} thread(s), {a.clock} clock, median of {a.steps} steps (ms per step; *_share: of the profiled op time)")
    print(f"{'':22s}" + ''.join(f"{r['variant']:>12s}" for r in rows))
    for k in keys: print(f"{k:22s}" + ''.join(f"{r.get(k, float('nan')):12.3g}" for r in rows))
    if a.json:
        from pathlib import Path
        p = Path(a.json); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == '__main__': main()
