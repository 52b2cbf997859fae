"""The contract of every console command, driven as a user runs it: the INSTALLED `cmadepth-*` scripts in subprocesses.

- every command's success path exits with status 0;
- each bad input (wrong option or value, missing / corrupt / mismatched file, unwritable output, non-finite loss)
  exits non-zero with exactly one line on stderr that names the file or the option, no traceback, and leaves the
  files it must not touch unchanged;
- a training run killed mid-way resumes.
Tiny data (one rendered synthetic set shared by all cases), one thread."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import re
PROGRESS = re.compile(r'\d+%\|.*\|')          # a tqdm bar: ' 40%|████      | 2/5 [...]'
BIN = Path(sys.executable).parent          # the console scripts are installed beside the interpreter (.venv/bin)
ENV = {k: v for k, v in os.environ.items() if k != 'CMADEPTH_DEBUG'}
ENV.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONWARNINGS='ignore', TQDM_DISABLE='1')
SYNTH = ['--drives', '3', '--frames', '6', '--height', '64', '--width', '96', '--val-drives', '1', '--test-drives', '1']


def run(name, *args, timeout=600, **kw):
    exe = BIN / name
    assert exe.exists(), f"{exe}: console script not installed (pip install -e .)"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout, **kw)


def stderr_lines(r):
    "stderr lines that are messages (tqdm progress bars are not)."
    return [l for l in r.stderr.replace('\r', '\n').splitlines() if l.strip() and not PROGRESS.search(l)]


def snapshot(*roots):
    "path → (size, mtime) of every file under `roots` (a missing root is an empty snapshot; a run's `.lock` is bookkeeping: each start records its pid there)."
    out = {}
    for root in map(Path, roots):
        if root.is_file(): out[str(root)] = (root.stat().st_size, root.stat().st_mtime_ns)
        elif root.exists():
            for p in sorted(root.rglob('*')):
                if p.is_file() and p.name != '.lock': out[str(p)] = (p.stat().st_size, p.stat().st_mtime_ns)
    return out


# ---------------------------------------------------------------- shared data (rendered once)
@pytest.fixture(scope='session')
def ctx(tmp_path_factory):
    base = tmp_path_factory.mktemp('contracts')
    data = base / 'synth'
    r = run('cmadepth-synth', '--out', data, *SYNTH)
    assert r.returncode == 0, r.stderr[-2000:]
    from cmadepth.kitti import write_fake_kitti, export_gt_depths
    kitti = write_fake_kitti(base / 'kitti')
    runs = base / 'runs'
    train = ['--preset', 'tiny', '--variant', 'full', f'data_path={data}', f'log_dir={runs}', 'name=ok',
             'pretrained=false', 'epochs=2', 'max_steps=0']
    r = run('cmadepth-train', *train, '--keep-checkpoints', '1')
    file = base / 'a_file'; file.write_text('not a folder\n')
    return dict(base=base, data=data, kitti=kitti, runs=runs, run=runs / 'ok', train=train, train_result=r, file=file,
                synth_result=None)


def test_synth_and_train_success_exit_0(ctx):
    r = ctx['train_result']
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'done:' in r.stdout
    models = ctx['run'] / 'models'
    kept = sorted(p.name for p in models.iterdir())
    assert 'weights_1' in kept and len(kept) <= 2, kept          # --keep-checkpoints 1: the newest and the best
    assert not list(models.glob('*.tmp'))
    r = run('cmadepth-synth', '--out', ctx['data'], *SYNTH)       # cached re-run: still 0, nothing rewritten
    assert r.returncode == 0 and not stderr_lines(r), r.stderr


def test_train_resume_same_command_exit_0(ctx):
    before = snapshot(ctx['data'])
    r = run('cmadepth-train', *ctx['train'])
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'resuming from' in r.stdout
    assert snapshot(ctx['data']) == before


def test_train_falls_back_to_newest_readable_checkpoint(ctx, tmp_path):
    runs = tmp_path / 'runs'; shutil.copytree(ctx['runs'], runs)
    from cmadepth.config import Config
    cfg = Config.load(runs / 'ok' / 'config.yaml').replace(log_dir=str(runs)); cfg.save(runs / 'ok' / 'config.yaml')
    args = [a if not a.startswith('log_dir=') else f'log_dir={runs}' for a in ctx['train']]
    ckpts = sorted((runs / 'ok' / 'models').glob('weights_*'))
    if len(ckpts) < 2: pytest.skip('the best checkpoint is the newest: nothing older to fall back to')
    st = ckpts[-1] / 'state.pt'; st.write_bytes(st.read_bytes()[:1000])
    r = run('cmadepth-train', *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'skipped unreadable checkpoint' in r.stdout and 'state.pt' in r.stdout


def test_eval_predict_check_export_reproduce_success_exit_0(ctx, tmp_path):
    w = ctx['run'] / 'models' / 'weights_1'
    r = run('cmadepth-eval', '--weights', w, '--data', ctx['data'], '--split', 'synth', '--device', 'cpu',
            '--baselines', 'constant', '--out', tmp_path / 'res.csv')
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'res.csv').exists() and not stderr_lines(r), r.stderr
    imgs = tmp_path / 'imgs'; imgs.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(imgs / 'rgb.png')
    Image.fromarray(rgb).convert('RGBA').save(imgs / 'rgba.png')
    Image.fromarray(rgb).convert('P').save(imgs / 'palette.png')
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 200)).save(imgs / 'gray16.png')
    r = run('cmadepth-predict', imgs, '--weights', w, '--out', tmp_path / 'pred', '--device', 'cpu', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'for 4 images' in r.stdout
    r = run('cmadepth-export', '--weights', w, '--out', tmp_path / 'm.onnx', '--seg')
    assert r.returncode == 0 and 'max |diff|' in r.stdout, r.stderr[-2000:]
    r = run('cmadepth-predict', imgs, '--weights', tmp_path / 'm.onnx', '--backend', 'onnxruntime', '--out', tmp_path / 'pred_onnx', '--quiet')
    assert r.returncode == 0 and 'for 4 images' in r.stdout, r.stderr[-2000:]
    r = run('cmadepth-check-kitti', '--data', ctx['kitti'], '--deep')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'decoded' in r.stdout
    r = run('cmadepth-export-gt', '--data', ctx['kitti'], '--split', 'eigen', '--out', tmp_path / 'gt.npz')
    assert r.returncode == 0, r.stderr[-2000:]
    r = run('cmadepth-reproduce', '--dry-run', '--preset', 'tiny', '--results-dir', tmp_path / 'results')
    assert r.returncode == 0, r.stderr[-2000:]


def test_16_bit_png_is_decoded_not_white(tmp_path):
    from cmadepth.kitti import to_rgb
    from cmadepth.predict import load_image
    a = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / 'g16.png')
    with Image.open(tmp_path / 'g16.png') as im: rgb = np.asarray(to_rgb(im))
    assert rgb.shape == (32, 64, 3) and rgb.min() == 0 and rgb.max() == 255 and 100 < rgb.mean() < 155
    assert np.array_equal(np.asarray(load_image(tmp_path / 'g16.png')), rgb)


def test_killed_training_resumes(ctx, tmp_path):
    runs = tmp_path / 'runs'
    args = [a if not a.startswith('log_dir=') else f'log_dir={runs}' for a in ctx['train']]
    args = [a if not a.startswith('epochs=') else 'epochs=3' for a in args] + ['name=killed']
    p = subprocess.Popen([str(BIN / 'cmadepth-train'), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    models = runs / 'killed' / 'models'
    t0 = time.time()
    while not (models / 'weights_0').exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.2)
    time.sleep(1.0)                              # into epoch 1 (or its checkpoint write)
    p.send_signal(signal.SIGKILL); p.wait()
    r = run('cmadepth-train', *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'resuming from' in r.stdout
    assert (models / 'weights_2' / 'state.pt').exists() and not list(models.glob('*.tmp'))


# ---------------------------------------------------------------- bad inputs
def _copy_data(ctx, tmp):
    d = tmp / 'data'; shutil.copytree(ctx['data'], d); return d

def _train_args(ctx, tmp, *extra, data=None):
    return ['cmadepth-train', '--preset', 'tiny', f"data_path={data or ctx['data']}", f'log_dir={tmp}/runs', 'name=x',
            'pretrained=false', *extra]

def _labels(d): return sorted((d / 'segmentation').rglob('*.png'))

def _first_train_image(d):
    from cmadepth.kitti import read_split, image_path
    l = read_split(d / 'splits' / 'synth' / 'train_files.txt')[0]
    return Path(image_path(d, l))

def _write_all_labels(d, fn):
    for p in _labels(d):
        a = np.asarray(Image.open(p)); Image.fromarray(fn(a).astype(np.uint8), 'L').save(p)

def _truncate(p, keep=200): p = Path(p); p.write_bytes(p.read_bytes()[:keep]); return p

def _copy_weights(ctx, tmp):
    w = tmp / 'w'; shutil.copytree(ctx['run'] / 'models' / 'weights_1', w); return w

def _eval_args(w, ctx, *extra): return ['cmadepth-eval', '--weights', w, '--data', ctx['data'], '--split', 'synth', '--device', 'cpu', *extra]

def _copied_run(ctx, tmp):
    runs = tmp / 'runs'; shutil.copytree(ctx['runs'], runs)
    from cmadepth.config import Config
    Config.load(runs / 'ok' / 'config.yaml').replace(log_dir=str(runs)).save(runs / 'ok' / 'config.yaml')
    return runs, [a if not a.startswith('log_dir=') else f'log_dir={runs}' for a in ctx['train']]

def c_train_preset(ctx, t): return _train_args(ctx, t)[:1] + ['--preset', 'nope'] + _train_args(ctx, t)[3:], 'preset', []
def c_train_height(ctx, t): return _train_args(ctx, t, 'height=100'), 'height=100', []
def c_train_tiny_size(ctx, t): return _train_args(ctx, t, 'height=32'), 'height=32', []
def c_train_classes(ctx, t): return _train_args(ctx, t, 'num_classes=5'), 'num_classes=5', []
def c_train_lr_text(ctx, t): return _train_args(ctx, t, 'lr=abc'), 'lr', []
def c_train_unknown(ctx, t): return _train_args(ctx, t, 'bogus=1'), 'bogus', []
def c_train_no_equals(ctx, t): return _train_args(ctx, t, 'epochs'), 'epochs', []
def c_train_bad_flag(ctx, t): return _train_args(ctx, t, '--epochs', '3'), '--epochs', []
def c_train_missing_config(ctx, t): return ['cmadepth-train', '--config', t / 'none.yaml'], 'none.yaml', []
def c_train_bad_yaml(ctx, t):
    (t / 'bad.yaml').write_text('height: [64, 96\nwidth: 96\n'); return ['cmadepth-train', '--config', t / 'bad.yaml'], 'bad.yaml', [t / 'bad.yaml']
def c_train_bad_json(ctx, t):
    (t / 'c.json').write_text('{"height": 64,'); return ['cmadepth-train', '--config', t / 'c.json'], 'c.json', [t / 'c.json']
def c_train_yaml_list(ctx, t):
    (t / 'l.yaml').write_text('- a\n- b\n'); return ['cmadepth-train', '--config', t / 'l.yaml'], 'l.yaml', [t / 'l.yaml']
def c_train_yaml_unknown_key(ctx, t):
    (t / 'k.yaml').write_text('hieght: 64\n'); return ['cmadepth-train', '--config', t / 'k.yaml'], 'hieght', [t / 'k.yaml']
def c_train_missing_data(ctx, t):       # KITTI: a synthetic preset renders its data into a missing data_path instead
    return _train_args(ctx, t, 'dataset=kitti', 'split=eigen_zhou', 'eval_split=eigen', data=t / 'nowhere'), 'nowhere', []
def c_train_malformed_split(ctx, t):
    d = _copy_data(ctx, t); f = d / 'splits' / 'synth' / 'train_files.txt'; f.write_text(f.read_text() + 'garbage line here now\n')
    return _train_args(ctx, t, data=d), 'train_files.txt', [d]
def c_train_void_labels(ctx, t):
    d = _copy_data(ctx, t); _write_all_labels(d, lambda a: np.zeros_like(a)); return _train_args(ctx, t, data=d), 'void', [d]
def c_train_train_ids(ctx, t):
    from cmadepth.kitti import label_to_train_id
    d = _copy_data(ctx, t); _write_all_labels(d, label_to_train_id); return _train_args(ctx, t, data=d), 'train ids', [d]
def c_train_label_range(ctx, t):
    d = _copy_data(ctx, t); _write_all_labels(d, lambda a: np.where(a == a.max(), 200, a)); return _train_args(ctx, t, data=d), 'segmentation', [d]
def c_train_label_rgb(ctx, t):
    d = _copy_data(ctx, t)
    for p in _labels(d): Image.open(p).convert('RGB').save(p)
    return _train_args(ctx, t, data=d), 'segmentation', [d]
def c_train_truncated_image(ctx, t):
    d = _copy_data(ctx, t); p = _truncate(_first_train_image(d)); return _train_args(ctx, t, data=d), p.name, [d]
def c_train_text_image(ctx, t):
    d = _copy_data(ctx, t); p = _first_train_image(d); p.write_text('not an image'); return _train_args(ctx, t, data=d), p.name, [d]
def c_train_resume_changed(ctx, t):
    runs, args = _copied_run(ctx, t)
    return ['cmadepth-train', *[a if not a.startswith('epochs=') else 'epochs=3' for a in args]], 'epochs: 2 → 3', [runs]
def c_train_restart_needs_yes(ctx, t):
    runs, args = _copied_run(ctx, t); return ['cmadepth-train', *args, '--restart'], '--yes', [runs]
def c_train_unreadable_state(ctx, t):
    runs, args = _copied_run(ctx, t)
    for s in (runs / 'ok' / 'models').glob('*/state.pt'): _truncate(s, 500)
    return ['cmadepth-train', *args], 'state.pt', [runs]
def c_train_keep_negative(ctx, t): return _train_args(ctx, t, '--keep-checkpoints', '-1'), '--keep-checkpoints', []
def c_train_eval_every_text(ctx, t): return _train_args(ctx, t, '--eval-every', 'x'), '--eval-every', []
def c_train_log_dir_file(ctx, t):
    a = [x if not x.startswith('log_dir=') else f"log_dir={ctx['file']}" for x in _train_args(ctx, t)]
    return a, str(ctx['file'].name), [ctx['file']]
def c_train_bad_device(ctx, t): return _train_args(ctx, t, 'device=tpu7'), 'device', []
def c_train_nan(ctx, t): return _train_args(ctx, t, 'lr=inf', 'max_steps=3'), 'non-finite', []
def c_eval_missing_weights(ctx, t): return _eval_args(t / 'none', ctx), 'none', []
def c_eval_truncated_encoder(ctx, t):
    w = _copy_weights(ctx, t); _truncate(w / 'encoder.pth', 3000); return _eval_args(w, ctx), 'encoder.pth', [w]
def c_eval_bad_config_json(ctx, t):
    w = _copy_weights(ctx, t); (w / 'config.json').write_text('{"height": '); return _eval_args(w, ctx), 'config.json', [w]
def c_eval_out_unwritable(ctx, t):
    return _eval_args(ctx['run'] / 'models' / 'weights_1', ctx, '--out', ctx['file'] / 'res.csv'), '--out', [ctx['file']]
def c_eval_bad_split(ctx, t): return _eval_args(ctx['run'] / 'models' / 'weights_1', ctx)[:-4] + ['--split', 'nope'], '--split', []
def c_eval_bad_baselines(ctx, t): return _eval_args(ctx['run'] / 'models' / 'weights_1', ctx, '--baselines', 'median'), '--baselines', []
def c_eval_nothing(ctx, t): return ['cmadepth-eval'], '--weights', []
def c_eval_batch_text(ctx, t): return _eval_args(ctx['run'] / 'models' / 'weights_1', ctx, '--batch-size', 'two'), '--batch-size', []
def c_predict_missing(ctx, t): return ['cmadepth-predict', t / 'none.png', '--variant', 'full', '--preset', 'tiny', 'pretrained=false'], 'none.png', []
def c_predict_corrupt(ctx, t):
    (t / 'bad.png').write_text('not a png'); return ['cmadepth-predict', t / 'bad.png', '--variant', 'full', '--preset', 'tiny', 'pretrained=false', '--out', t / 'o'], 'bad.png', [t / 'bad.png']
def c_predict_empty_weights(ctx, t):
    (t / 'empty').mkdir(); Image.new('RGB', (64, 48)).save(t / 'x.png')
    return ['cmadepth-predict', t / 'x.png', '--weights', t / 'empty', '--out', t / 'o'], 'empty', [t / 'x.png']
def c_predict_bad_override(ctx, t):
    Image.new('RGB', (64, 48)).save(t / 'x.png'); return ['cmadepth-predict', t / 'x.png', '--variant', 'full', '--preset', 'tiny', 'height=100'], 'height=100', []
def c_predict_bad_device(ctx, t):
    Image.new('RGB', (64, 48)).save(t / 'x.png')
    return ['cmadepth-predict', t / 'x.png', '--weights', ctx['run'] / 'models' / 'weights_1', '--device', 'tpu7'], 'device', []
def c_onnx_export_size(ctx, t): return ['cmadepth-export', '--weights', ctx['run'] / 'models' / 'weights_1', '--out', t / 'm.onnx', '--height', '100'], '--height 100', []
def c_synth_out_file(ctx, t): return ['cmadepth-synth', '--out', ctx['file'] / 'synth', *SYNTH], ctx['file'].name, [ctx['file']]
def c_synth_drives_text(ctx, t): return ['cmadepth-synth', '--out', t / 's', '--drives', 'x'], '--drives', []
def c_synth_drives_zero(ctx, t): return ['cmadepth-synth', '--out', t / 's', '--drives', '0'], 'drives', []
def c_synth_height(ctx, t): return ['cmadepth-synth', '--out', t / 's', *SYNTH[:4], '--height', '4', *SYNTH[6:]], 'height=4', []
def c_check_missing(ctx, t): return ['cmadepth-check-kitti', '--data', t / 'none', '--split', 'synth'], 'none', []
def c_check_split(ctx, t): return ['cmadepth-check-kitti', '--data', ctx['kitti'], '--split', 'nope', '--subset', 'train'], 'nope', []
def c_check_deep_truncated(ctx, t):
    k = t / 'kitti'; shutil.copytree(ctx['kitti'], k)
    from cmadepth.kitti import read_split, image_path
    l = read_split(k / 'splits' / 'eigen_zhou' / 'train_files.txt')[0]
    p = _truncate(image_path(k, l), 300)
    return ['cmadepth-check-kitti', '--data', k, '--subset', 'train', '--deep'], p.name, [k]
def c_export_no_velodyne(ctx, t):
    from cmadepth.kitti import write_fake_kitti
    k = write_fake_kitti(t / 'k', velodyne=False); return ['cmadepth-export-gt', '--data', k, '--split', 'eigen'], 'velodyne', [k]
def c_export_out_file(ctx, t): return ['cmadepth-export-gt', '--data', ctx['kitti'], '--split', 'eigen', '--out', ctx['file'] / 'gt.npz'], ctx['file'].name, [ctx['file'], ctx['kitti']]
def c_reproduce_only(ctx, t): return ['cmadepth-reproduce', '--only', 'table9', '--dry-run'], '--only', []
def c_reproduce_jobs(ctx, t): return ['cmadepth-reproduce', '--jobs', '-1', '--dry-run'], '--jobs', []
def c_reproduce_preset(ctx, t): return ['cmadepth-reproduce', '--preset', 'nope', '--dry-run', '--results-dir', t / 'r'], 'nope', []

CASES = {k[2:]: v for k, v in dict(globals()).items() if k.startswith('c_')}
RESULTS = {}


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_one_line_no_traceback(ctx, tmp_path, case):
    argv, names, watched = CASES[case](ctx, tmp_path)
    watched = [ctx['data'], ctx['run'], *watched]
    before = snapshot(*watched)
    r = run(*argv, timeout=300)
    lines = stderr_lines(r)
    ok = (r.returncode != 0, len(lines) == 1, 'Traceback' not in r.stderr, bool(lines) and names in lines[-1],
          snapshot(*watched) == before)
    RESULTS[case] = all(ok)
    assert r.returncode != 0, f"{case}: exit status 0\n{r.stdout[-1500:]}"
    assert 'Traceback' not in r.stderr, f"{case}: traceback\n{r.stderr[-3000:]}"
    assert len(lines) == 1, f"{case}: {len(lines)} stderr lines:\n" + '\n'.join(lines[-20:])
    assert names in lines[0], f"{case}: {names!r} not named in {lines[0]!r}"
    assert snapshot(*watched) == before, f"{case}: files changed"
    if case.startswith('train') and case != 'train_nan':             # nothing written before the checks pass
        assert not (tmp_path / 'runs' / 'x').exists(), f"{case}: the run folder was written"


def test_zz_figures():
    "How many bad inputs were tried and how many gave one clear line (printed with `pytest -s`)."
    good = sum(RESULTS.values())
    print(f"\ncontracts: {len(RESULTS)} bad inputs tried, {good} clear one-line errors, {len(RESULTS) - good} other "
          f"({', '.join(k for k, v in RESULTS.items() if not v) or 'none'})")
    assert len(CASES) >= 30
