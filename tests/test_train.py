"""Training integration tests: DDP over 2 CPU processes (gloo) equals one process with the doubled batch (also
through a pose-first step, whose depth network runs without a graph), and the console command trains, resumes
and evaluates every variant on tiny data."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import pytest
import torch

from cmadepth.kitti import write_fake_kitti, export_gt_depths

STEP = textwrap.dedent('''
    import os, sys, warnings, torch
    warnings.filterwarnings('ignore')
    from cmadepth.config import Config
    from cmadepth.train import init_distributed, build_training, train_step, seed_everything, _unwrap
    from cmadepth.loader import make_loader, set_loader_epoch
    root, out, pose_first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = Config.make('full', 'tiny', dataset='kitti', data_path=root, split='eigen_zhou', eval_split='eigen',
                      pretrained=False, batch_size=4, pose_first_steps=pose_first)
    info = init_distributed(torch.device('cpu'))
    seed_everything(cfg.seed)
    bs = cfg.batch_size // info.world_size
    loader = make_loader(cfg, 'train', augment=True, shuffle=True, distributed=info.enabled, drop_last=True, batch_size=bs)
    set_loader_epoch(loader, 0)
    depth_net, pose_net, opt, sched = build_training(cfg, torch.device('cpu'), info, steps_per_epoch=len(loader))
    steps = []
    for step, batch in zip(range(pose_first + 1), loader):      # the pose-first steps, then one step of both networks
        losses, _ = train_step(cfg, batch, depth_net, pose_net, opt, step=step)
        grads = {n: p.grad.clone() for n, p in _unwrap(depth_net).named_parameters() if p.grad is not None}
        grads.update({'pose.' + n: p.grad.clone() for n, p in _unwrap(pose_net).named_parameters() if p.grad is not None})
        index = batch.index
        if info.enabled:                                       # every rank's samples
            parts = [torch.zeros_like(index) for _ in range(info.world_size)]; torch.distributed.all_gather(parts, index)
            index = torch.cat(parts)
        steps.append(dict(grads=grads, index=index, loss=losses['total']))
    if info.rank == 0: torch.save(steps, out)
    if info.enabled: torch.distributed.barrier(); torch.distributed.destroy_process_group()   # no rank exits mid-collective
''')


@pytest.fixture(scope='module')
def kitti(tmp_path_factory):
    root = write_fake_kitti(tmp_path_factory.mktemp('kitti') / 'kitti')
    export_gt_depths(root, 'eigen_benchmark')
    return root


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env['PYTHONPATH'] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get('PYTHONPATH', '')
    return env


@pytest.mark.parametrize('pose_first', [0, 1])
def test_ddp_two_processes_match_one_process_with_double_batch(kitti, tmp_path, pose_first):
    script = tmp_path / 'step.py'; script.write_text(STEP)
    one, two = tmp_path / 'one.pt', tmp_path / 'two.pt'
    subprocess.run([sys.executable, str(script), str(kitti), str(one), str(pose_first)], check=True, env=_env(), timeout=300)
    subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                    str(script), str(kitti), str(two), str(pose_first)], check=True, env=_env(), timeout=300)
    steps_a, steps_b = torch.load(one), torch.load(two)
    assert len(steps_a) == len(steps_b) == pose_first + 1
    for i, (a, b) in enumerate(zip(steps_a, steps_b)):
        assert set(a['grads']) == set(b['grads'])
        # the two processes together saw the same 4 samples as the single process
        assert sorted(a['index'].tolist()) == sorted(b['index'].tolist())
        depth = [k for k in a['grads'] if not k.startswith('pose.')]
        assert bool(depth) == (i >= pose_first)        # a pose-first step gives the pose network alone a gradient
        if i == 0:                                     # the first step: same start, so the gradients agree
            _close(a, b, depth, 2e-2)
            # the pose network's BatchNorm: per-pair statistics in one process, one synced pass per pair under DDP
            _close(a, b, [k for k in a['grads'] if k.startswith('pose.')], 5e-2)
        else:                                          # after a pose-first step under DDP, both networks learn again
            assert all(torch.isfinite(b['grads'][k]).all() and b['grads'][k].abs().sum() > 0 for k in depth if 'weight' in k)


def _close(a, b, keys, tol):
    if not keys: return
    num = sum(float((a['grads'][k] - b['grads'][k]).norm() ** 2) for k in keys) ** 0.5
    den = sum(float(a['grads'][k].norm() ** 2) for k in keys) ** 0.5
    assert den > 0
    assert num / den < tol, f"relative gradient difference {num / den:.3g} (tolerance {tol})"


@pytest.mark.parametrize('variant', ['monodepth2', 'semantics', 'cma', 'sgt', 'full'])
def test_cli_trains_resumes_and_evaluates_every_variant(kitti, tmp_path, variant):
    common = ['--preset', 'tiny', '--variant', variant, 'dataset=kitti', f'data_path={kitti}', 'split=eigen_zhou',
              'eval_split=eigen', 'pretrained=false', f'log_dir={tmp_path}', f'name={variant}', 'max_steps=0']
    run = lambda *extra: subprocess.run([sys.executable, '-m', 'cmadepth.train', *common, *extra], env=_env(),
                                        capture_output=True, text=True, timeout=600)
    r = run('epochs=1')
    assert r.returncode == 0, r.stderr[-2000:]
    models = tmp_path / variant / 'models'
    assert (models / 'weights_0' / 'encoder.pth').exists()
    r = run('epochs=2')   # a different config in the same run folder is refused …
    assert r.returncode != 0 and 'different configuration' in r.stderr
    r = run('epochs=1')   # … the same one resumes (nothing left to do)
    assert r.returncode == 0 and 'resuming from' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'cmadepth.evaluate', '--weights', str(models / 'weights_0'), '--data', str(kitti),
                        '--split', 'eigen_benchmark', '--baselines', 'constant'], env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'abs rel' in r.stdout.lower()
