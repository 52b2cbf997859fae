"""The KITTI console commands (cmadepth.kitti, cmadepth.loader): registered in settings.ini, and runnable as processes on a fake KITTI tree."""
import configparser, importlib, os, subprocess, sys
from pathlib import Path
import numpy as np

REPO = Path(__file__).resolve().parents[1]

def _scripts():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(REPO/'settings.ini')
    lines = [s.strip() for s in cfg['DEFAULT']['console_scripts'].splitlines() if s.strip()]
    return dict(s.split('=', 1) for s in lines)

def test_console_scripts_registered():
    s = _scripts()
    for name, target in (('cmadepth-check-kitti', 'cmadepth.loader:check_cli'), ('cmadepth-export-gt', 'cmadepth.kitti:export_cli')):
        assert s[name] == target
        mod, fn = target.split(':')
        assert callable(getattr(importlib.import_module(mod), fn))

def _run(code, tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path)

def test_check_and_export_commands(tmp_path):
    from cmadepth.kitti import write_fake_kitti
    root = write_fake_kitti(tmp_path/'kitti')
    r = _run(f"import sys; from cmadepth.loader import check_main; sys.exit(check_main(['--data', {str(root)!r}]))", tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'all files present' in r.stdout
    (root/'segmentation/2011_09_26/2011_09_26_drive_0001_sync/image_02/0000000002.png').unlink()
    r = _run(f"import sys; from cmadepth.loader import check_main; sys.exit(check_main(['--data', {str(root)!r}, '--subset', 'train']))", tmp_path)
    assert r.returncode == 1 and 'missing label' in r.stdout and '0000000002.png' in r.stdout
    r = _run(f"import sys; from cmadepth.kitti import export_main; sys.exit(export_main(['--data', {str(root)!r}, '--split', 'eigen']))", tmp_path)
    assert r.returncode == 0, r.stderr
    data = np.load(root/'splits/eigen/gt_depths.npz', allow_pickle=True)['data']
    assert len(data) == 6 and data[0][29, 52] == 10.0
