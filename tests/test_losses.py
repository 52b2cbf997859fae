"""Loss integration: the benchmark script runs end to end (tiny sizes) and compute_losses works on every variant at the cpu preset."""
import subprocess, sys, os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_losses_small():
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'bench_losses.py'), '--small', '--repeat', '1'],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'compute_losses(full)' in r.stdout and 'sgt_loss' in r.stdout and 'peak RSS' in r.stdout


def test_compute_losses_cpu_preset_all_variants():
    import torch
    torch.set_num_threads(1)
    from cmadepth.config import Config, VARIANTS
    from cmadepth.losses import compute_losses, _fake_inputs
    for v in VARIANTS:
        cfg = Config.make(v, 'cpu')
        batch, out, poses = _fake_inputs(cfg, B=2, H=cfg.height, W=cfg.width)
        L = compute_losses(cfg, batch, out, poses)
        assert all(torch.isfinite(x).all() for x in L.values()), v
        L['total'].backward()
        assert torch.isfinite(out.disps[0].grad).all()
