"""Integration test of `cmadepth-predict`: the console command as a subprocess (`python -m cmadepth.predict`) on the
street photo, with a tiny network saved by `save_weights`."""
import os, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
STREET = ROOT / 'cmadepth' / 'assets' / 'images' / 'street_cc_by_2.0.jpg'


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


def test_help_is_light():
    code = ("import sys, cmadepth.predict as p; print(sorted(m for m in ('torch','pandas','matplotlib') if m in sys.modules)); "
            "p.main(['--help'])")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('[]'), "importing cmadepth.predict pulled in heavy modules"
    assert '--weights' in r.stdout and '--out' in r.stdout


def test_cli_on_street_photo(tmp_path):
    import torch
    from cmadepth.config import Config
    from cmadepth.model import DepthNet
    from cmadepth.checkpoints import save_weights
    torch.manual_seed(0)
    weights = save_weights(tmp_path / 'weights', DepthNet(Config.make('full', 'tiny', pretrained=False)))
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, '-m', 'cmadepth.predict', str(STREET), '--weights', str(weights),
                        '--out', str(out), '--device', 'cpu'], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    with Image.open(STREET) as im: W, H = im.size
    stem = STREET.stem
    names = [f'{stem}_disp.png', f'{stem}_disp.npy', f'{stem}_depth.npy', f'{stem}_seg.png', 'seg_legend.png']
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for n in names: assert str(out / n) in r.stdout, r.stdout
    assert 'wrote 5 files for 1 image' in r.stdout
    for n in (f'{stem}_disp.png', f'{stem}_seg.png'):
        with Image.open(out / n) as im: assert im.size == (W, H)
    disp, depth = np.load(out / f'{stem}_disp.npy'), np.load(out / f'{stem}_depth.npy')
    assert disp.shape == depth.shape == (H, W)
    np.testing.assert_allclose(depth * disp, 1, rtol=1e-5)


def test_default_output_folder(tmp_path):
    "Without --out the files go to cmadepth_predictions/ beside the input, as the README says; the command names the folder."
    import shutil, torch
    from cmadepth.config import Config
    from cmadepth.model import DepthNet
    from cmadepth.checkpoints import save_weights
    torch.manual_seed(0)
    weights = save_weights(tmp_path / 'weights', DepthNet(Config.make('monodepth2', 'tiny', pretrained=False)))
    img = tmp_path / 'photos' / 'street.jpg'; img.parent.mkdir(); shutil.copy(STREET, img)
    exe = shutil.which('cmadepth-predict') or str(Path(sys.executable).parent / 'cmadepth-predict')
    r = subprocess.run([exe, str(img), '--weights', str(weights), '--device', 'cpu', '--quiet'],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    out = img.parent / 'cmadepth_predictions'
    assert sorted(p.name for p in out.iterdir()) == ['street_depth.npy', 'street_disp.npy', 'street_disp.png']
    assert f'to {out}' in r.stdout, r.stdout
    readme = (ROOT / 'README.md').read_text()
    assert 'cmadepth_predictions/' in readme and 'street_disp.png' in readme


def test_cli_errors(tmp_path):
    missing = tmp_path / 'missing.jpg'
    r = subprocess.run([sys.executable, '-m', 'cmadepth.predict', str(missing), '--weights', str(tmp_path)],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 1 and str(missing) in r.stderr, r.stderr
