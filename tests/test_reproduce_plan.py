"""`cmadepth-reproduce --dry-run` as users run it (the installed command): cached runs count 0 min, `--only` takes the
file names of results/, and the fresh-clone estimate is the one the README quotes."""
import json, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cmd():
    exe = shutil.which('cmadepth-reproduce') or str(Path(sys.executable).parent/'cmadepth-reproduce')
    assert Path(exe).exists(), 'cmadepth-reproduce is not installed (pip install -e .)'
    return exe


def _run(*args, cwd=ROOT):
    return subprocess.run([_cmd(), *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def test_only_accepts_file_names():
    for name in ('fig_per_class', 'table7_margin', 'table2_variants', 'fig_margin', 'fig_depth_examples'):
        r = _run('--preset', 'tiny', '--dry-run', '--only', name)
        assert r.returncode == 0, (name, r.stderr)
    # the depth examples are drawn from the default run: `--only fig_depth_examples` plans it and the tables notebook
    lines = [l for l in r.stdout.splitlines()[1:] if l.strip()[:1].isdigit()]      # the plan's steps (a note on rendering
    steps = [l.split()[1] for l in lines]                                            # the data may follow them)
    assert steps[0] == 'train_eval' and steps[-1] == 'tables' and '1 training runs' in r.stdout.splitlines()[0], r.stdout
    assert 'tiny-full-s0' in lines[0] and 'only=fig_depth_examples' in lines[-1], r.stdout
    r = _run('--preset', 'tiny', '--dry-run', '--only', 'fig_nothing')
    assert r.returncode == 2 and 'fig_nothing' in r.stderr and 'fig_per_class' not in r.stderr.split('allowed are')[0]


def test_dry_run_shows_cached_runs(tmp_path, monkeypatch):
    from cmadepth.experiments import experiment_configs, cache_path, config_hash, data_fingerprint, RECORD_VERSION
    data = tmp_path/'data'; data.mkdir()
    (data/'manifest.json').write_text(json.dumps(dict(params=dict(version=1, drives=4, frames=6, height=64, width=96, seed=0))))
    monkeypatch.chdir(tmp_path)                       # no checkout above: log_dir runs/ is tmp_path/runs
    cfg = experiment_configs('tiny', data_path=str(data), m=0.1)[0]
    cache = cache_path(cfg); cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(dict(name=cfg.name, config_hash=config_hash(cfg), record_version=RECORD_VERSION,
                                     data_fingerprint=data_fingerprint(cfg)['fingerprint'])))
    r = _run('--preset', 'tiny', '--dry-run', '--only', 'table7', '--data-path', str(data), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if cfg.name in l and 'reuses' not in l)
    assert f'{cfg.name} (cached)' in line and line.rstrip().endswith('cached, 0 min'), r.stdout
    assert '(1 cached)' in r.stdout.splitlines()[0], r.stdout
    # another data (re-rendered with another seed): the cache no longer counts
    (data/'manifest.json').write_text(json.dumps(dict(params=dict(version=1, drives=4, frames=6, height=64, width=96, seed=1))))
    r = _run('--preset', 'tiny', '--dry-run', '--only', 'table7', '--data-path', str(data), cwd=tmp_path)
    assert r.returncode == 0 and '(cached)' not in r.stdout, r.stdout


def test_fresh_clone_estimate_is_the_readmes():
    from cmadepth.reproduce import main_job_minutes
    r = _run('--preset', 'quick', '--dry-run', '--jobs', '2')
    assert r.returncode == 0, r.stderr
    est = main_job_minutes('quick', 2)
    assert f'on a fresh clone about {est:.0f} min' in r.stdout.splitlines()[0], r.stdout
