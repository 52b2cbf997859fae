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


# ---------------------------------------------------------------- shared tiny data
@pytest.fixture(scope='module')
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp('safety') / 'synth'
    r = run('cmadepth-synth', '--out', d, *SYNTH)
    assert r.returncode == 0, r.stderr[-2000:]
    return d


def _train(data, runs, name, *extra):
    return ['cmadepth-train', '--preset', 'tiny', '--variant', 'full', f'data_path={data}', f'log_dir={runs}', f'name={name}',
            'pretrained=false', *extra]


# ---------------------------------------------------------------- 3. one process per run; synth does not replace other data
def test_second_start_on_the_same_run_refuses_while_the_first_trains(data, tmp_path):
    import signal, time
    runs = tmp_path / 'runs'
    cmd = _train(data, runs, 'race', 'epochs=1000', 'max_steps=0')
    first = subprocess.Popen([str(BIN / cmd[0]), *map(str, cmd[1:])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        lock = runs / 'race' / '.lock'
        for _ in range(600):                       # the first start holds the lock once its checks passed
            if lock.exists() and lock.read_text().split()[:1] == [str(first.pid)]: break
            assert first.poll() is None, first.stderr.read()[-2000:]
            time.sleep(0.1)
        else: pytest.fail('the first start never took the lock')
        r = run(*cmd)
        assert r.returncode == 1 and len(lines(r)) == 1, r.stderr
        assert str(runs / 'race') in r.stderr and f'process {first.pid}' in r.stderr and 'Traceback' not in r.stderr
        assert first.poll() is None                                         # the first one still trains
        first.send_signal(signal.SIGKILL); first.wait(timeout=60)           # a crash: the lock file stays, the lock does not
    finally:
        if first.poll() is None: first.kill(); first.wait()
    assert lock.read_text().split()[0] == str(first.pid)
    r = run(*_train(data, runs, 'race', 'epochs=1', 'max_steps=2'), '--restart', '--yes')
    assert r.returncode == 0, r.stderr[-2000:]


def test_synth_refuses_other_parameters_without_force(data, tmp_path):
    d = tmp_path / 'synth'; shutil.copytree(data, d)
    before = {p: p.stat().st_mtime_ns for p in d.rglob('*') if p.is_file()}
    r = run('cmadepth-synth', '--out', d, *SYNTH[:-2], '--test-drives', '1', '--seed', '3')
    assert r.returncode == 1 and len(lines(r)) == 1, r.stderr
    assert str(d) in r.stderr and 'seed 0 → 3' in r.stderr and '--force' in r.stderr
    assert {p: p.stat().st_mtime_ns for p in d.rglob('*') if p.is_file()} == before
    r = run('cmadepth-synth', '--out', d, *SYNTH, '--seed', '3', '--force')
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((d / 'manifest.json').read_text())['params']['seed'] == 3


# ---------------------------------------------------------------- 4. no stranded starts
def test_nan_advice_followed_verbatim_starts_the_run(data, tmp_path):
    runs = tmp_path / 'runs'
    r = run(*_train(data, runs, 'nan', 'lr=inf', 'max_steps=3'))
    assert r.returncode == 1 and len(lines(r)) == 1 and 'non-finite' in r.stderr, r.stderr
    assert 'lower lr= or check the data, then run the same command to resume' in r.stderr
    assert not list((runs / 'nan').glob('models/weights_*'))
    r = run(*_train(data, runs, 'nan', 'lr=1e-4', 'max_steps=3'))          # the same command, lr lowered
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'lr: 1e-4' in (runs / 'nan' / 'config.yaml').read_text() or 'lr: 0.0001' in (runs / 'nan' / 'config.yaml').read_text()
    assert list((runs / 'nan').glob('models/weights_*'))
    assert len(list((runs / 'nan' / 'tb').glob('events.*'))) == 1          # the failed start's log was replaced, not kept beside


# ---------------------------------------------------------------- 5. one line for the rest
def _truncate_neighbour_only(d):
    "Truncate frame 0 of the first training drive: never a target (a split line needs both neighbours), only frame 1's −1 neighbour."
    line = (d / 'splits' / 'synth' / 'train_files.txt').read_text().split('\n')[0].split()
    p = d / line[0] / 'image_02' / 'data' / '0000000000.png'
    p.write_bytes(p.read_bytes()[:200])
    return p


def test_worker_error_is_one_line_naming_the_file(data, tmp_path):
    d = tmp_path / 'synth'; shutil.copytree(data, d); bad = _truncate_neighbour_only(d)
    r = run(*_train(d, tmp_path / 'runs', 'w', 'num_workers=2'))
    assert r.returncode == 1 and len(lines(r)) == 1, r.stderr
    assert str(bad) in r.stderr and 'truncated' in r.stderr and 'Traceback' not in r.stderr and 'DataLoader' not in r.stderr, r.stderr
    assert len(r.stderr) < 400, r.stderr


def test_check_kitti_deep_decodes_neighbours(data, tmp_path):
    d = tmp_path / 'synth'; shutil.copytree(data, d)
    assert run('cmadepth-check-kitti', '--data', d, '--split', 'synth', '--deep').returncode == 0
    bad = _truncate_neighbour_only(d)
    r = run('cmadepth-check-kitti', '--data', d, '--split', 'synth', '--deep')
    assert r.returncode == 1 and len(lines(r)) == 1, r.stderr
    assert str(bad) in r.stderr and 'neighbour' in r.stderr, r.stderr


@pytest.fixture(scope='module')
def weights(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp('weights') / 'runs'
    r = run(*_train(data, runs, 'ok', 'max_steps=2'))
    assert r.returncode == 0, r.stderr[-2000:]
    return sorted((runs / 'ok' / 'models').glob('weights_*'))[-1]


def test_predict_folder_predicts_every_readable_image(data, weights, tmp_path):
    src = sorted(data.rglob('image_02/data/*.png'))[:3]
    imgs = tmp_path / 'imgs'; imgs.mkdir()
    for i, p in enumerate(src): shutil.copy(p, imgs / f'{i}.png')
    (imgs / '1b.png').write_text('not a png')                           # sorted between 1.png and 2.png
    r = run('cmadepth-predict', imgs, '--weights', weights, '--out', tmp_path / 'out', '--quiet')
    assert r.returncode == 1 and len(lines(r)) == 1, r.stderr
    assert '1b.png' in r.stderr and '1 of 4 images' in r.stderr, r.stderr
    assert sorted(p.name for p in (tmp_path / 'out').glob('*_disp.png')) == ['0_disp.png', '1_disp.png', '2_disp.png']


@pytest.fixture
def full_disk(tmp_path):
    "A 64 KiB tmpfs filled up (needs the right to mount, e.g. root in a container; skipped otherwise)."
    d = tmp_path / 'full'; d.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(d)], capture_output=True).returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (not root)')
    try:
        try:
            with open(d / 'fill', 'wb', buffering=0) as f:
                while True: f.write(b'\0' * 1024)
        except OSError: pass                                             # full
        yield d
    finally: subprocess.run(['umount', '-l', str(d)], capture_output=True)


def test_disk_full_names_the_file_and_leaves_no_tmp(data, weights, full_disk, tmp_path):
    img = sorted(data.rglob('image_02/data/*.png'))[0]
    cases = [(['cmadepth-eval', '--weights', weights, '--data', data, '--split', 'synth', '--device', 'cpu', '--out', full_disk / 'ev.csv'], full_disk / 'ev.csv'),
             (['cmadepth-predict', img, '--weights', weights, '--out', full_disk / 'pred', '--quiet'], full_disk / 'pred'),
             (['cmadepth-synth', '--out', full_disk / 'synth', *SYNTH], full_disk / 'synth'),
             (['cmadepth-export', '--weights', weights, '--out', full_disk / 'm.onnx', '--height', '64', '--width', '96', '--no-check'], full_disk / 'm.onnx')]
    for argv, target in cases:
        r = run(*argv)
        assert r.returncode == 1 and len(lines(r)) == 1, (argv[0], r.stderr)
        assert str(target) in r.stderr and 'no space left' in r.stderr, (argv[0], r.stderr)
        assert not [p for p in full_disk.rglob('*') if '.tmp' in p.name], (argv[0], list(full_disk.rglob('*')))
