"""Time and peak memory of the losses (CPU).

Two measurements, each in its own child process so that the peak resident set size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) belongs to that measurement alone:

* ``full``: `compute_losses` forward + backward for the full variant on a random 192×640 batch of 4
  (NetOutput tensors are leaves that require grad);
* ``sgt``: `sgt_loss` alone, forward + backward, at 320×1024, batch 12, K = 7, paper layers 1,2,3.

Usage: ``python scripts/bench_losses.py [--threads 1] [--repeat 2] [--small]`` (``--small``: tiny sizes, for tests).
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    "Peak resident set size of this process so far, MiB (Linux reports KiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    try:
        with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError: return float('nan')


def _run_part(part: str, small: bool, repeat: int, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    from cmadepth.config import Config, DECODER_CHANNELS
    from cmadepth.losses import compute_losses, _fake_inputs
    from cmadepth.sgt import sgt_loss
    if part == 'full':
        B, H, W = (2, 64, 96) if small else (4, 192, 640)
        cfg = Config.make('full', height=H, width=W, batch_size=B)
        make = lambda: _fake_inputs(cfg, B=B, H=H, W=W)
        def step(inputs):
            batch, out, poses = inputs
            L = compute_losses(cfg, batch, out, poses); L['total'].backward()
            return L['total'].item()
        desc = f"compute_losses(full) fwd+bwd, B={B}, {H}x{W}, scales {cfg.scales}, SGT K={cfg.sgt_kernel}"
    else:
        B, H, W, K = (2, 64, 128, 7) if small else (12, 320, 1024, 7)
        g = torch.Generator().manual_seed(0)
        def make():
            label = (torch.rand(B, H // 16, W // 16, generator=g) * 19).long().repeat_interleave(16, 1).repeat_interleave(16, 2)
            feats = {i: torch.randn(B, DECODER_CHANNELS[i], H // 2**i, W // 2**i, generator=g).requires_grad_() for i in (1, 2, 3)}
            return feats, label
        def step(inputs):
            feats, label = inputs
            l = sgt_loss(feats, label, sgt_layers=(1, 2, 3), sgt_kernel=K, sgt_margin=0.3); l.backward()
            return l.item()
        desc = f"sgt_loss fwd+bwd, B={B}, {H}x{W}, K={K}, layers 1,2,3 (stages 3,2,1)"
    inputs = make()
    base_peak, base_now = _rss_mb(), _current_rss_mb()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); value = step(inputs); times.append(time.perf_counter() - t0)
        if repeat > 1: inputs = None; inputs = make()          # fresh leaves; old ones freed first
    return dict(part=part, desc=desc, threads=threads, seconds=min(times), seconds_all=times, value=value,
                rss_before_mb=round(base_now, 1), peak_rss_mb=round(_rss_mb(), 1),
                peak_minus_before_mb=round(_rss_mb() - max(base_peak, base_now), 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--repeat', type=int, default=2, help='timed repetitions per part (the minimum is reported)')
    p.add_argument('--small', action='store_true', help='tiny sizes (for tests)')
    p.add_argument('--part', choices=('full', 'sgt'), help=argparse.SUPPRESS)   # child process
    a = p.parse_args(argv)
    if a.part:
        print(json.dumps(_run_part(a.part, a.small, a.repeat, a.threads))); return 0
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH', '')])),
           'OMP_NUM_THREADS': str(a.threads)}
    results = []
    for part in ('full', 'sgt'):
        cmd = [sys.executable, str(Path(__file__).resolve()), '--part', part, '--repeat', str(a.repeat), '--threads', str(a.threads)] + (['--small'] if a.small else [])
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode: sys.stderr.write(r.stderr); raise SystemExit(f"bench part {part!r} failed (exit {r.returncode})")
        res = json.loads(r.stdout.strip().splitlines()[-1]); results.append(res)
        print(f"{res['desc']}\n  time {res['seconds']:.2f} s (min of {len(res['seconds_all'])}, {res['threads']} thread(s)); "
              f"peak RSS {res['peak_rss_mb']:.0f} MiB (inputs built: {res['rss_before_mb']:.0f} MiB, "
              f"loss fwd+bwd added {res['peak_minus_before_mb']:.0f} MiB); value {res['value']:.4f}")
    return results


if __name__ == '__main__': main()
