"""Issue 24: results and runs that cannot be silently mixed, overwritten or raced, and error paths that do not strand the
user — driven as a user runs them: the INSTALLED console scripts (and papermill) in subprocesses, exit status and stderr.
Tiny data, one thread."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent          # the console scripts are installed beside the interpreter (.venv/bin)
ENV = {k: v for k, v in os.environ.items() if k not in ('CMADEPTH_DEBUG', 'IN_TEST')}
ENV.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore', TQDM_DISABLE='1')
SYNTH = ['--drives', '3', '--frames', '6', '--height', '64', '--width', '96', '--val-drives', '1', '--test-drives', '1']


def run(name, *args, timeout=600, **kw):
    exe = BIN / name
    assert exe.exists(), f"{exe}: console script not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=kw.pop('env', ENV), timeout=timeout, **kw)


def lines(r): return [l for l in r.stderr.splitlines() if l.strip()]


def git(root, *args):
    return subprocess.run(['git', '-c', 'user.email=t@t', '-c', 'user.name=t', *args], cwd=root, capture_output=True, text=True, check=True).stdout


# ---------------------------------------------------------------- 2. published results are written only on purpose
def test_readme_papermill_example_leaves_committed_results_clean(tmp_path):
    "The README's `papermill nbs/ablation_margin.ipynb … -p m 0.3` (tiny preset) in a checkout with the committed results/: git status of results/ stays clean; the record goes to runs/results/."
    co = tmp_path / 'checkout'; (co / 'nbs').mkdir(parents=True)
    for f in ('settings.ini', '.gitignore', 'nbs/ablation_margin.ipynb'): shutil.copy(ROOT / f, co / f)
    shutil.copytree(ROOT / 'results', co / 'results')
    git(co, 'init', '-q'); git(co, 'add', '-A'); git(co, 'commit', '-qm', 'committed results')
    r = run('papermill', 'nbs/ablation_margin.ipynb', '-', '-p', 'm', '0.3', '-p', 'preset', 'tiny', '--kernel', 'python3', cwd=co)
    assert r.returncode == 0, r.stderr[-3000:]
    assert git(co, 'status', '--porcelain', '--', 'results/') == ''
    rec = json.loads((co / 'runs' / 'results' / 'runs' / 'tiny-full-s0.json').read_text())
    assert rec['margin'] == 0.3 and rec['data_fingerprint'] and rec['record_version'] == 2
    # on purpose: -p results_dir results writes the published folder
    r = run('papermill', 'nbs/ablation_margin.ipynb', '-', '-p', 'm', '0.3', '-p', 'preset', 'tiny', '-p', 'results_dir', 'results',
            '--kernel', 'python3', cwd=co)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'results/runs/tiny-full-s0.json' in git(co, 'status', '--porcelain', '--untracked-files=all', '--', 'results/')
