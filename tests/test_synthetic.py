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
