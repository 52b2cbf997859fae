"""`cmadepth-export` and `cmadepth-predict --backend onnxruntime` as users run them (the installed console scripts in
subprocesses), on random-weight networks saved in the two released layouts: the FSRE-Depth authors' (full model,
`encoder.pth` + `decoder.pth`) and Monodepth2's (`encoder.pth` + `depth.pth`), both without `config.json`, at 192×640.
onnxruntime's output must equal PyTorch's fast path within 1e-4, at the export size and at another size and batch."""
import os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if k != 'CMADEPTH_DEBUG'}
ENV.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore', TQDM_DISABLE='1')
TOL = 1e-4


def run(name, *args, env=None, timeout=600):
    exe = BIN / name
    assert exe.exists(), f"{exe}: console script not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=env or ENV, timeout=timeout)


def one_line_error(r, names):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode != 0, r.stdout
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert len(lines) == 1, r.stderr
    assert names in lines[0], lines[0]


def _released(folder, variant):
    "A random-weight 192×640 network saved like a release: the authors' / Monodepth2's files, no config.json."
    from cmadepth.config import Config
    from cmadepth.model import DepthNet
    from cmadepth.checkpoints import save_weights
    torch.manual_seed(0)
    net = DepthNet(Config.make(variant, 'paper', pretrained=False))
    g = torch.Generator().manual_seed(1)
    for m in net.modules():                     # BatchNorm statistics that are not the identity: folding them is tested
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    save_weights(folder, net)
    (folder / 'config.json').unlink()
    return folder


@pytest.fixture(scope='module')
def ctx(tmp_path_factory):
    base = tmp_path_factory.mktemp('export')
    torch.set_num_threads(1)
    w = dict(full=_released(base / 'fsre_r18_192x640', 'full'), monodepth2=_released(base / 'mono_640x192', 'monodepth2'))
    assert sorted(p.name for p in w['full'].iterdir()) == ['decoder.pth', 'encoder.pth']
    assert sorted(p.name for p in w['monodepth2'].iterdir()) == ['depth.pth', 'encoder.pth']
    res = {}
    for v, extra in (('full', ['--seg']), ('monodepth2', [])):
        out = base / f'{v}.onnx'
        res[v] = run('cmadepth-export', '--weights', w[v], '--out', out, *extra), out
    return dict(base=base, weights=w, exports=res)


@pytest.mark.parametrize('variant', ['monodepth2', 'full'])
def test_export_parity_192x640_other_size_batch_2(ctx, variant):
    from cmadepth.checkpoints import load_model
    from cmadepth.export import OnnxDepthNet
    from cmadepth.inference import FastDepthNet
    r, path = ctx['exports'][variant]
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'wrote {path}' in r.stdout and 'multiples of 32' in r.stdout and not list(path.parent.glob('.*.tmp'))
    onet = OnnxDepthNet(path, threads=1)
    seg = variant == 'full'
    assert onet.outputs == (['disp', 'seg_logits'] if seg else ['disp'])
    cfg, net, _ = load_model(ctx['weights'][variant])
    assert (onet.cfg.variant, onet.cfg.height, onet.cfg.width) == (variant, 192, 640) == (cfg.variant, cfg.height, cfg.width)
    fast = FastDepthNet(net, seg=seg)                          # PyTorch's fast path as it runs (channels-last)
    g = torch.Generator().manual_seed(2)
    for shape in [(1, 3, 192, 640), (2, 3, 128, 416)]:        # the export size, then another size and batch 2: one file
        x = torch.rand(*shape, generator=g)
        d, s = onet(x)
        ref = fast(x)
        rd, rs = ref if seg else (ref, None)
        assert d.shape == (shape[0], 1, *shape[2:])
        diff = (d - rd).abs().max().item()
        print(f'{variant} {shape}: max |onnxruntime - torch fast path| disp {diff:.2e}', end='')
        assert diff <= TOL, diff
        assert (d - net.predict(x)).abs().max().item() <= TOL        # and the network as trained
        if seg:
            sd = (s - rs).abs().max().item()
            print(f', seg logits {sd:.2e} (|logits| up to {rs.abs().max().item():.1f})', end='')
            assert s.shape == (shape[0], 19, *shape[2:]) and sd <= TOL * max(1., rs.abs().max().item())
        print()
        assert rd.std() > 1e-4                                       # a non-degenerate output


def test_predict_onnxruntime_equals_torch_backend(ctx, tmp_path):
    r, path = ctx['exports']['full']
    assert r.returncode == 0, r.stderr[-3000:]
    img = tmp_path / 'img.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (150, 500, 3), dtype=np.uint8)).save(img)
    a = run('cmadepth-predict', img, '--weights', path, '--backend', 'onnxruntime', '--out', tmp_path / 'ort', '--quiet')
    assert a.returncode == 0, a.stderr[-3000:]
    assert 'onnxruntime' in a.stdout and 'wrote 5 files' in a.stdout     # disparity, depth, segmentation (png, npy) + the colour key
    assert (tmp_path / 'ort' / 'seg_legend.png').exists()
    b = run('cmadepth-predict', img, '--weights', ctx['weights']['full'], '--out', tmp_path / 'torch', '--device', 'cpu', '--quiet')
    assert b.returncode == 0, b.stderr[-3000:]
    da, db = (np.load(tmp_path / d / 'img_depth.npy') for d in ('ort', 'torch'))
    assert da.shape == db.shape == (150, 500)
    assert np.abs(da - db).max() <= 1e-3 * db.max(), np.abs(da - db).max()
    sa, sb = (np.asarray(Image.open(tmp_path / d / 'img_seg.png')) for d in ('ort', 'torch'))
    assert (sa == sb).mean() > 0.999


def test_user_mistakes_one_line(ctx, tmp_path):
    w = ctx['weights']
    one_line_error(run('cmadepth-export', '--weights', tmp_path / 'none', '--out', tmp_path / 'm.onnx'), 'none')
    one_line_error(run('cmadepth-export', '--weights', w['full'], '--out', tmp_path / 'm.onnx', '--height', '100'), '--height 100')
    (tmp_path / 'file').write_text('x')
    one_line_error(run('cmadepth-export', '--weights', w['full'], '--out', tmp_path / 'file' / 'm.onnx'), '--out')
    one_line_error(run('cmadepth-export', '--weights', w['monodepth2'], '--out', tmp_path / 'm.onnx', '--seg'), '--seg')
    img = tmp_path / 'img.png'; Image.new('RGB', (64, 48)).save(img)
    one_line_error(run('cmadepth-predict', img, '--weights', ctx['exports']['full'][1], '--out', tmp_path / 'o'), '--backend onnxruntime')
    one_line_error(run('cmadepth-predict', img, '--weights', tmp_path / 'no.onnx', '--backend', 'onnxruntime'), 'no.onnx')
    # onnxruntime not installed: a package of that name that fails to import shadows the real one
    fake = tmp_path / 'fake'; (fake / 'onnxruntime').mkdir(parents=True)
    (fake / 'onnxruntime' / '__init__.py').write_text("raise ImportError('No module named onnxruntime')\n")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(fake)] + [p for p in ENV.get('PYTHONPATH', '').split(os.pathsep) if p]))
    r = run('cmadepth-predict', img, '--weights', ctx['exports']['full'][1], '--backend', 'onnxruntime', '--out', tmp_path / 'o', env=env)
    one_line_error(r, 'pip install onnxruntime')
    r = run('cmadepth-export', '--weights', w['full'], '--out', tmp_path / 'm.onnx', env=env)
    one_line_error(r, 'pip install onnxruntime')
    assert not (tmp_path / 'm.onnx').exists() and not (tmp_path / 'o').exists()
