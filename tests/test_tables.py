"""The table notebooks through papermill, as a user runs them: an experiment notebook with the tiny preset writes a
complete run record; `tables.ipynb` builds Tables 3–7 and the figures from records; bad parameters stop in the first
cell after the parameters; `cmadepth-reproduce` lists its runs and names the notebook and cell that failed."""
import json, math, os, shutil
from pathlib import Path
import pytest

pm = pytest.importorskip('papermill')
from cmadepth import results as R

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(ROOT)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else [])))
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.delenv('IN_TEST', raising=False)


def _run(nb, tmp_path, **params):
    out = tmp_path / f'{nb}.out.ipynb'
    pm.execute_notebook(str(NBS / f'{nb}.ipynb'), str(out), parameters=params, kernel_name='python3', cwd=str(ROOT),
                        progress_bar=False)
    return out


def test_ablation_margin_tiny_writes_record(tmp_path):
    res = tmp_path / 'results'
    _run('ablation_margin', tmp_path, m=0.2, preset='tiny', data_path=str(tmp_path / 'data'), results_dir=str(res),
         log_dir=str(tmp_path / 'runs'))
    rec = json.loads((res / 'runs' / 'tiny-full-m0.2-s0.json').read_text())
    assert rec['margin'] == 0.2 and rec['config']['sgt_margin'] == 0.2 and rec['config']['sgt'] is True
    for k in ('preset', 'dataset', 'resolution', 'epochs', 'steps', 'hardware', 'commit', 'seed', 'config_hash', 'timings', 'history'):
        assert rec.get(k) not in (None, ''), k
    assert (rec['preset'], rec['dataset'], rec['resolution'], rec['steps']) == ('tiny', 'synthetic', '64×96', 2)
    assert rec['config_hash'] == R.config_hash(R.experiment_configs('tiny', m=0.2, data_path=tmp_path / 'data')[0])
    for m in (rec['metrics'], rec['metrics_improved_gt'], *rec['baselines'].values()):
        assert all(math.isfinite(m[k]) and m[k] >= 0 for k in R.METRIC_COLS)
    assert set(rec['baselines']) == {'constant', 'layout_prior'}
    assert (res / 'runs' / 'tiny-full-m0.2-s0.png').stat().st_size > 1000
    assert rec['timings']['train_seconds'] > 0 and rec['n_images'] > 0


def test_tables_notebook_builds_every_table(tmp_path):
    res = tmp_path / 'results'
    for r in R.example_records('cpu', seeds=(0, 1)): R.write_record(r, res)
    out = R.execute_isolated('tables', dict(preset='cpu'), res, ROOT, threads=1)    # papermill in a child process (--jobs)
    assert out == res / 'executed' / 'tables-cpu.ipynb' and out.exists()   # keyed by preset
    import pandas as pd
    for n, (stem, _, _) in R.TABLES.items():
        df = pd.read_csv(res / f'{stem}.csv')
        first = R.BASELINE_SOURCE if stem == 'table2_variants' else 'paper (reported)'   # the supplementary reports no variant accuracy
        assert (df.source == first).any() and (df.source == 'reproduced').any(), stem
        rep = df[df.source == 'reproduced']
        assert (rep.preset == 'cpu').all() and (rep.seeds == '0,1').all() and rep.hardware.notna().all()
        assert 'mean ± sd over 2 seeds' in (res / f'{stem}.md').read_text()
    assert len(pd.read_csv(res / 'table7_margin.csv').query("source == 'reproduced'")) == 4
    for f in ('fig_margin', 'fig_cma_layers', 'fig_per_class'): assert (res / f'{f}.png').stat().st_size > 1000


def test_tables_notebook_keeps_one_data_fingerprint(tmp_path):
    "Records on two data fingerprints (e.g. before and after the data was re-rendered): each table keeps the newest's, names the others in its caption and in one warning line."
    res = tmp_path / 'results'
    recs = R.example_records('cpu', seeds=(0, 1))
    for r in recs:
        old = r['cma_layers'] in ('0,1', '0,1,2,3') or r['labels'] == 'alternative'
        R.write_record(dict(r, data_fingerprint='0ld0ld0ld0ld' if old else 'new0new0new0', finished='2026-01-0%dT00:00:00Z' % (1 if old else 2)), res)
    out = R.execute_isolated('tables', dict(preset='cpu'), res, ROOT, threads=1)
    import pandas as pd
    t6 = pd.read_csv(res / 'table6_cma_layers.csv').query("source == 'reproduced'")
    assert sorted(t6.cma_layers) == ['0,1,2', '0,1,2,3,4'] and set(t6.data) == {'new0new0new0'}
    t5 = pd.read_csv(res / 'table5_backbone_labels.csv').query("source == 'reproduced'")
    assert set(t5.labels) == {'primary'} and set(t5.data) == {'new0new0new0'}
    md = (res / 'table6_cma_layers.md').read_text()
    left = [r['name'] for r in recs if r['cma_layers'] in ('0,1', '0,1,2,3')]
    assert 'Left out' in md and all(n in md for n in left) and 'data new0new0new0' in md
    cells = json.loads(out.read_text())['cells']
    warned = [o.get('text', '') for c in cells if c['cell_type'] == 'code' for o in c.get('outputs', []) if o.get('name') == 'stderr']
    lines = [l for t in warned for l in (t if isinstance(t, str) else ''.join(t)).splitlines() if 'table6_cma_layers: left out' in l]
    assert len(lines) == 1 and all(n in lines[0] for n in left), warned


@pytest.mark.parametrize('nb,params,message', [
    ('ablation_margin', dict(m=-1), 'm=-1: the SGT margin must be > 0 (paper ablation: 0.1, 0.2, 0.3, 0.4'),
    ('ablation_cma_layers', dict(cma_layers=7), 'allowed are non-empty lists such as 0,1'),
    ('train_eval', dict(preset='paper'), 'data_path: preset=\'paper\' trains on KITTI'),
])
def test_bad_parameter_stops_in_first_cell(tmp_path, nb, params, message):
    with pytest.raises(pm.PapermillExecutionError) as e:
        _run(nb, tmp_path, results_dir=str(tmp_path / 'results'), **params)
    assert e.value.ename == 'ValueError' and message in e.value.evalue
    cells = json.loads((tmp_path / f'{nb}.out.ipynb').read_text())['cells']
    code = [c for c in cells if c['cell_type'] == 'code']
    injected = next(i for i, c in enumerate(code) if 'injected-parameters' in c['metadata'].get('tags', []))
    assert e.value.exec_count == code[injected + 1]['execution_count']          # the first cell after the parameters
    assert not (tmp_path / 'results').exists()


def test_reproduce_dry_run_lists_deduplicated_runs(capsys):
    assert R.reproduce_main(['--dry-run']) == 0
    out = capsys.readouterr().out
    runs = {n for s in R.plan('quick') for n in s['runs']}
    assert f'{len(runs)} training runs' in out and out.count('reuses quick-full-s0') == 3
    with pytest.raises(ValueError, match='--only: unknown table9; allowed are'): R.reproduce_main(['--only', 'table9', '--dry-run'])


def test_reproduce_names_failed_notebook_and_keeps_tables(tmp_path, monkeypatch, capsys):
    root = tmp_path / 'repo'; (root / 'nbs').mkdir(parents=True)
    (root / 'settings.ini').write_text('[DEFAULT]\nlib_name = cmadepth\n')
    nb = json.loads((NBS / 'table1_decoder.ipynb').read_text())
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    code[1]['source'] = 'raise RuntimeError("broken on purpose")'
    (root / 'nbs' / 'table1_decoder.ipynb').write_text(json.dumps(nb))
    old = root / 'results' / 'table1_decoder.md'; old.parent.mkdir(); old.write_text('previous table')
    monkeypatch.chdir(root)
    assert R.reproduce_main(['--only', 'table1', '--preset', 'tiny']) == 1
    err = capsys.readouterr().err
    assert 'nbs/table1_decoder.ipynb failed in cell [3]' in err   # [1] parameters, [2] injected parameters and 'RuntimeError: broken on purpose' in err
    assert old.read_text() == 'previous table'
    assert (root / 'results' / 'executed' / 'table1_decoder.failed.ipynb').exists()
    from cmadepth import reproduce as P
    assert not P._STOP.is_set()     # a finished job (even a failed one) does not block later child runs in this process


def test_execute_isolated_reports_the_failing_cell(tmp_path):
    with pytest.raises(R.NotebookFailed) as e:
        R.execute_isolated('ablation_margin', dict(m=-1), tmp_path / 'results', ROOT)
    assert e.value.exec_count == 3 and e.value.ename == 'ValueError' and 'must be > 0' in e.value.evalue
    assert (tmp_path / 'results' / 'executed' / 'ablation_margin-m-1.failed.ipynb').exists()


def test_results_tables_are_for_people():
    "Every results/table*.md has at most 12 columns (the .csv keeps all); an accuracy table has its baseline rows."
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]/'results'
    mds = sorted(root.glob('table*.md'))
    assert mds
    for md in mds:
        text = md.read_text(encoding='utf-8')
        header = next(l for l in text.splitlines() if l.startswith('| '))
        cols = len(re.split(r'(?<!\\)\|', header.strip())) - 2
        assert cols <= 12, f'{md.name}: {cols} columns'
        if '| AbsRel |' in header and '| reproduced |' in text:
            assert '| baseline (no network) | layout prior |' in text or re.search(r'\| baseline \(no network\) \| [^|]*\| layout prior \|', text) \
                or 'layout prior' in text.split(header)[1], f'{md.name}: no layout-prior row'


def _legend_and_artists(fig):
    from matplotlib.container import ErrorbarContainer
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    arts = []
    for ax in fig.axes:
        arts += [('line', l.get_label()) for l in ax.get_lines()]
        arts += [('errorbar' if isinstance(c, ErrorbarContainer) else 'bar', c.get_label()) for c in ax.containers]
    return legend, arts


def test_committed_figures_say_what_they_show():
    """The figures as the committed records draw them: every accuracy figure has a line labelled as the layout prior and
    error bars labelled ± sd over n seeds, both in its legend; every run's learning curve is labelled as computed on the
    validation frames and any test-frame baseline beside it says so."""
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    recs = R.load_records(ROOT / 'results', 'quick')
    for fn in (R.fig_margin, R.fig_cma_layers, R.fig_per_class):
        fig = fn(recs); legend, arts = _legend_and_artists(fig); plt.close(fig)
        assert any(k == 'line' and 'layout prior' in l and l in legend for k, l in arts), (fn.__name__, arts)
        assert any(k in ('errorbar', 'bar') and '± sd' in l and 'n = ' in l and l in legend for k, l in arts), (fn.__name__, arts)
    for r in R.load_records(ROOT / 'results'):
        if not r.get('learning_curve'): continue
        fig = R.plot_record_curve(r); legend, _ = _legend_and_artists(fig); plt.close(fig)
        assert legend[0].startswith('model, validation Abs Rel (validation frames'), (r['name'], legend)
        on_test = [l for l in legend[1:] if not l.startswith('model')]
        curve_base = set((r.get('curve') or {}).get('baselines') or {})
        assert all('(test frames)' in l or '(validation frames' in l for l in on_test), (r['name'], legend)
        assert sum('(validation frames' in l for l in on_test) == len(curve_base), (r['name'], legend)
