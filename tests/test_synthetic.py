"""`cmadepth-synth` end to end: a tiny dataset through the console entry point, then the cached re-run."""
import json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ['--drives', '3', '--frames', '3', '--height', '32', '--width', '96', '--val-drives', '1', '--test-drives', '1', '--seed', '5']


def run(out):
    env = {**os.environ, 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''), 'OMP_NUM_THREADS': '1'}
    code = 'import sys; from cmadepth.synthetic import main; main(sys.argv[1:])'
    return subprocess.run([sys.executable, '-c', code, '--out', str(out), *ARGS], capture_output=True, text=True, env=env, check=True)


def test_cli_tiny_dataset(tmp_path):
    out = tmp_path / 'synth'
    r = run(out)
    assert '12 frames' in r.stdout                 # 3 drives + 1 warm-up drive (as many as the training drives) × 3 frames
    man = json.loads((out / 'manifest.json').read_text())
    assert man['params']['height'] == 32 and man['params']['seed'] == 5
    assert man['counts']['lines'] == {'train': 1, 'val': 1, 'test': 1, 'warmup': 1}
    assert man['params']['warmup_drives'] == 1 and man['params']['warmup_speed'] == 0.3
    assert (out / 'splits' / 'synth_warmup' / 'train_files.txt').read_text() == '2000_01_01/2000_01_01_drive_0004_sync 1 l\n'
    assert (out / '2000_01_01' / '2000_01_01_drive_0001_sync' / 'image_02' / 'data' / '0000000002.png').exists()
    assert (out / 'splits' / 'synth' / 'test_files.txt').read_text() == '2000_01_01/2000_01_01_drive_0003_sync 1 l\n'
    stamp = (out / 'manifest.json').stat().st_mtime_ns
    run(out)
    assert (out / 'manifest.json').stat().st_mtime_ns == stamp   # cached: nothing rewritten
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.synth')]


def test_cli_street_alone_by_default_clutter_on_request(tmp_path):
    """The embedded data is the street alone (manifest: clutter False); `--clutter` renders the full street into another
    folder, and is refused — one line naming what differs, no traceback — over data rendered without it."""
    exe = str(Path(sys.executable).parent / 'cmadepth-synth')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    synth = lambda out, *extra: subprocess.run([exe, '--out', str(out), *ARGS, *extra], capture_output=True, text=True, env=env)
    r = synth(tmp_path / 'bare')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / 'bare' / 'manifest.json').read_text())['params']['clutter'] is False
    r = synth(tmp_path / 'full', '--clutter')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / 'full' / 'manifest.json').read_text())['params']['clutter'] is True
    stamp = (tmp_path / 'bare' / 'manifest.json').stat().st_mtime_ns
    r = synth(tmp_path / 'bare', '--clutter')
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    msg = r.stderr.strip().splitlines()
    assert len(msg) == 1 and 'clutter False → True' in msg[0] and '--force' in msg[0], r.stderr
    assert (tmp_path / 'bare' / 'manifest.json').stat().st_mtime_ns == stamp     # the street-alone data is untouched
