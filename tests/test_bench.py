"The benchmark's command line end to end at a tiny size: fresh-process jobs, JSON output, import time."
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_bench_cli(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    out = tmp_path / 'bench.json'
    p = subprocess.run([sys.executable, '-m', 'cmadepth.bench', '--variants', 'full', '--height', '64', '--width', '96',
                        '--batch-sizes', '1', '--no-train', '--repeats', '1', '--warmup', '0', '--json', str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    rows = {r['variant']: r for r in res['rows']}
    assert list(rows) == ['monodepth2', 'full']
    assert rows['monodepth2']['predict_b1_x'] == 1.0
    assert rows['full']['fast_maxdiff'] < 1e-5
    assert 'train_ms' not in rows['full']        # --no-train (the training job is tested in nbs/17_bench.ipynb)
    assert rows['full']['gmacs_fast'] < rows['full']['gmacs_predict'] < rows['full']['gmacs_forward']
    assert res['info']['import_cmadepth_s'] < 2 and res['info']['import_cmadepth_model_s'] > 0
    assert 'full' in p.stdout and 'gmacs_fast' in p.stdout
