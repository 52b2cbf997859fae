"""The paper recipe as a user runs it: the shipped configs, every command of the README's KITTI + GPU section at tiny
scale on CPU (a fake KITTI tree, gloo), ImageNet init offline, a fresh clone's synthetic data, and the GPU check's
refusal without CUDA and its CPU rehearsal."""
import json, os, re, shlex, shutil, subprocess, sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = ['height=64', 'width=96', 'batch_size=2', 'max_steps=2', 'epochs=1', 'pretrained=false', 'num_workers=0']


def _env(**kw):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env['PATH'] = str(BIN) + os.pathsep + env.get('PATH', '')
    env.update(kw)
    return env


def _run(args, cwd, timeout=600, **env):
    return subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)


def readme_section():
    text = (REPO / 'README.md').read_text()
    start = text.index('## KITTI and a GPU')
    end = text.index('\n## ', start + 3)
    return text[start:end]


def readme_commands():
    "The command lines of the section's ```bash blocks (the ```sh download block is not run)."
    blocks = re.findall(r"```bash\n(.*?)```", readme_section(), re.S)
    return [l.split(' #')[0].strip() for b in blocks for l in b.splitlines() if l.strip() and not l.startswith('#')]


def test_shipped_configs_load_validate_and_document_every_field():
    from dataclasses import fields
    from cmadepth.config import Config
    cfgs = {p.stem: Config.load(p) for p in sorted((REPO / 'configs').glob('*.yaml'))}
    assert set(cfgs) == {'paper_r18', 'paper_r50', 'paper_hr_r18'}
    assert cfgs['paper_r18'] == Config.make('full', 'paper', name='paper_r18')
    assert (cfgs['paper_r50'].backbone, cfgs['paper_r50'].height) == ('resnet50', 192)
    hr = cfgs['paper_hr_r18']
    assert (hr.height, hr.width, hr.sgt_kernel, hr.backbone) == (320, 1024, 7, 'resnet18')
    for name, c in cfgs.items():
        assert c.pretrained is True and c.batch_size == 12 and c.dataset == 'kitti' and c.variant == 'full', name
        text = (REPO / 'configs' / f'{name}.yaml').read_text()
        for f in fields(Config):
            assert re.search(rf"^{f.name}: .*", text, re.M), f"{name}.yaml lacks {f.name}"
        assert f"configs/{name}.yaml" in text


def test_readme_section_names_sources_and_numbers():
    s = readme_section()
    for needle in ('segmentation.zip', 'hyBlue/FSRE-Depth', 'AbsRel 0.105, SqRel 0.708, RMSE 4.546, RMSE log 0.182, δ 0.886 / 0.964 / 0.983',
                   '0.722', '18 h 20 min', '9.4 GB', 'torchrun', 'amp=bf16', 'make gpu-check', 'SyncBatchNorm'):
        assert needle in s, needle
    cmds = readme_commands()
    assert any(c.startswith('torchrun') for c in cmds) and any(c.startswith('cmadepth-eval') for c in cmds)


def test_readme_kitti_commands_run_at_tiny_scale(tmp_path):
    "Every command of the section, in order, as written, plus the tiny sizes; the authors' layout evaluated too."
    from cmadepth.kitti import write_fake_kitti
    write_fake_kitti(tmp_path / 'data' / 'kitti')
    shutil.copytree(REPO / 'configs', tmp_path / 'configs')
    seen = set()
    for line in readme_commands():
        args = shlex.split(line.replace('weights_19', 'weights_0'))
        if args[0] == 'torchrun' or args[0] == 'cmadepth-train' or 'cmadepth.train' in args:
            args += TINY
        if 'models/fsre_r18_192x640' in line:     # the authors' release layout: encoder.pth + decoder.pth only
            rel = tmp_path / 'models' / 'fsre_r18_192x640'; rel.mkdir(parents=True)
            src = tmp_path / 'runs' / 'paper_r18' / 'models' / 'weights_0'
            enc = torch.load(src / 'encoder.pth'); enc = {k: v for k, v in enc.items() if k not in ('epoch', 'step')}
            enc['use_stereo'] = False
            torch.save(enc, rel / 'encoder.pth'); shutil.copy(src / 'decoder.pth', rel / 'decoder.pth')
        r = _run(args, tmp_path)
        assert r.returncode == 0, f"{line}\n{r.stdout[-1500:]}\n{r.stderr[-2500:]}"
        if line in seen: assert 'resuming from' in r.stdout, line          # the repeated command resumes
        seen.add(line)
        if args[0] == 'cmadepth-eval': assert 'abs rel' in r.stdout.lower(), r.stdout
    assert (tmp_path / 'data/kitti/splits/eigen/gt_depths.npz').exists()
    assert (tmp_path / 'runs/paper_r18/eigen.csv').exists()
    for name in ('paper_r18', 'paper_r18_1gpu', 'paper_r18_bf16'):
        s = json.loads((tmp_path / 'runs' / name / 'summary.json').read_text())
        assert s['steps'] == 2 and s['init'].startswith('random'), (name, s['init'])


SITE_BLOCK = "import socket\ndef _no(*a, **k): raise OSError('network unreachable (blocked by the test)')\nsocket.socket.connect = _no\nsocket.getaddrinfo = _no\n"


def test_paper_config_offline_without_imagenet_weights_stops_with_one_line(tmp_path):
    from cmadepth.kitti import write_fake_kitti
    write_fake_kitti(tmp_path / 'kitti')
    site = tmp_path / 'site'; site.mkdir(); (site / 'sitecustomize.py').write_text(SITE_BLOCK)
    r = _run(['cmadepth-train', '--config', str(REPO / 'configs/paper_r18.yaml'), f'data_path={tmp_path / "kitti"}',
              f'log_dir={tmp_path / "runs"}', 'height=64', 'width=96', 'batch_size=2', 'max_steps=1', 'num_workers=0'],
             tmp_path, timeout=300, TORCH_HOME=str(tmp_path / 'torch'), PYTHONPATH=str(site))
    assert r.returncode == 1, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert 'resnet18-f37072fd.pth' in lines[0] and str(tmp_path / 'torch' / 'hub' / 'checkpoints') in lines[0]


def test_fresh_clone_renders_synthetic_data_once(tmp_path):
    r = _run(['cmadepth-train', '--preset', 'tiny', 'name=a'], tmp_path)      # data_path=data/synthetic, missing
    assert r.returncode == 0, r.stderr[-2500:]
    assert 'rendering the synthetic data' in r.stdout
    assert (tmp_path / 'data/synthetic/manifest.json').exists()
    assert json.loads((tmp_path / 'runs/a/summary.json').read_text())['init'].startswith('random')
    r = _run(['cmadepth-train', '--preset', 'tiny', 'name=b'], tmp_path)
    assert r.returncode == 0 and 'rendering' not in r.stdout, r.stderr[-2000:]
    (tmp_path / 'other').mkdir(); (tmp_path / 'other' / 'x.txt').write_text('not data')
    r = _run(['cmadepth-train', '--preset', 'tiny', 'name=c', 'data_path=other'], tmp_path)
    assert r.returncode == 1 and 'cmadepth-synth --out other' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_gpu_check_refuses_without_cuda(tmp_path):
    r = _run(['cmadepth-gpu-check', '--out', str(tmp_path / 'g.json')], tmp_path, timeout=120)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and 'needs a CUDA GPU' in r.stderr
    assert not (tmp_path / 'g.json').exists()


def test_gpu_check_rehearsal_on_cpu(tmp_path):
    "Every code path of the GPU check, at the tiny size on CPU: the benchmark (fp32, bf16), the fast path, train, torchrun (gloo)."
    out = tmp_path / 'g.json'
    r = _run(['cmadepth-gpu-check', '--device', 'cpu', '--tiny', '--out', str(out), '--log-dir', str(tmp_path / 'runs'),
              '--data-path', str(tmp_path / 'synth')], tmp_path, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    res = json.loads(out.read_text())
    checks = {c['check']: c['status'] for c in res['checks']}
    assert len(checks) == 4 and set(checks.values()) == {'ok'}, checks
    assert any('torchrun' in c and 'gloo' in c for c in checks)
    assert {(row['variant'], row['amp']) for row in res['checks'][0]['rows']} == {(v, a) for v in ('monodepth2', 'full') for a in ('off', 'bf16')}
    assert 'all checks passed' in r.stdout and 'Table 2 on this device' in r.stdout
