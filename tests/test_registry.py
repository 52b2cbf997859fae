"The experiment registry drives the plan; tables are means ± sd over seeds; records without seeds are refused."
import copy, math
import pytest
from cmadepth import results as R
from cmadepth.config import Config


def _fake(margin, seed, abs_rel):
    r = copy.deepcopy([x for x in R.example_records('quick', seeds=(0,)) if x['variant'] == 'full' and x['margin'] == 0.3
                       and x['cma_layers'] == '0,1,2' and x['backbone'] == 'resnet18' and x['labels'] == 'primary' and not x['high_res']][0])
    r.update(margin=margin, seed=seed, name=f'fake-m{margin}-s{seed}')
    r['metrics'] = {k: abs_rel for k in R.METRIC_COLS}
    return r


def test_table7_values_from_fake_records():
    d = Config.make('full', 'quick').sgt_margin
    recs = [_fake(d, 0, 0.20), _fake(d, 1, 0.22), _fake(d, 2, 0.21),      # default: mean 0.21, sd 0.01
            _fake(0.1, 0, 0.30), _fake(0.1, 1, 0.32),                     # far: mean 0.31, sd 0.0141
            _fake(0.2, 0, 0.21), _fake(0.2, 1, 0.23)]                     # close: mean 0.22
    t = R.table7(recs); rep = t[t.source == 'reproduced'].set_index('margin')
    assert rep.loc[d, 'abs_rel'] == pytest.approx(0.21) and rep.loc[d, 'abs_rel_sd'] == pytest.approx(0.01)
    assert rep.loc[0.1, 'abs_rel'] == pytest.approx(0.31) and rep.loc[0.1, 'abs_rel_sd'] == pytest.approx(math.sqrt(2e-4))
    assert list(rep.n) == [2, 2, 3] or sorted(rep.n) == [2, 2, 3]
    assert rep.loc[d, 'vs_default'] == 'default'
    assert '> 2·sd' in rep.loc[0.1, 'vs_default'] and rep.loc[0.2, 'vs_default'].startswith('within')


def test_record_without_seed_is_refused():
    r = _fake(0.3, 0, 0.2); del r['seed']
    with pytest.raises(ValueError, match='no seed'): R.table7([r])


def test_method_default_comes_from_config():
    assert R.default_value('m', 'quick') == Config.make('full', 'quick').sgt_margin
    assert R.method_defaults('quick')['cma_layers'] == ','.join(map(str, Config.make('full', 'quick').cma_layers))


def test_adding_an_ablation_value_touches_the_registry_only(monkeypatch):
    monkeypatch.setitem(R.EXPERIMENTS, 'margin', R.EXPERIMENTS['margin'].with_values(0.5))
    p = R.plan('quick', everything=True)
    runs = [n for s in p if not s['reused'] for n in s['runs']]
    assert 'quick-full-m0.5-s0' in runs and 'quick-full-m0.5-s1' in runs
    assert len(runs) == len(set(runs))


def test_seed_counts_follow_the_registry():
    "One call per seed; per compared row the registry's seeds (3 for the variants, 2 for the rest); the main job = the variants."
    p = R.plan('quick', everything=True)
    by = {}
    for s in p:
        key = (s['notebook'], tuple(sorted((k, str(v)) for k, v in s['params'].items() if k not in ('preset', 'seeds', 'data_path'))))
        by.setdefault(key, set()).update(s['runs'])
    assert all(len(s['runs']) <= 1 for s in p)
    for v in R.EXPERIMENTS['variants'].values:
        assert len(by[('train_eval', (('variant', v),))]) >= 3
    assert all(len(runs) >= 2 for runs in by.values() if runs)
    main = {n for s in R.plan('quick') if not s['reused'] for n in s['runs']}
    assert main == {f'quick-{v}-s{i}' for v in R.EXPERIMENTS['variants'].values for i in range(3)}


class _Trained(Exception): "raised by the stand-in for training: run_experiment decided to train"


def test_committed_records_are_not_a_cache(tmp_path, monkeypatch):
    "A record in results/runs (what a fresh clone has) never stands in for a run: run_experiment trains; only this machine's <log_dir>/<name>/record.json is reused."
    from cmadepth import train as T, experiments as X
    cfg = Config.make('full', 'tiny', log_dir=str(tmp_path / 'runs'), data_path=str(tmp_path / 'data'))
    cfg = cfg.replace(name=R.run_name(cfg))
    committed = dict(record_version=X.RECORD_VERSION, name=cfg.name, config_hash=X.config_hash(cfg), seed=0, metrics={},
                     data_fingerprint='0123456789ab')
    X.write_record(committed, tmp_path / 'results')                       # the committed record, hash, version and data matching
    def no_training(*a, **k): raise _Trained
    monkeypatch.setattr(X, 'ensure_data', lambda *a, **k: None); monkeypatch.setattr(T, 'train', no_training)
    monkeypatch.setattr(X, 'data_fingerprint', lambda cfg: dict(fingerprint='0123456789ab', description='stand-in'))
    with pytest.raises(_Trained): X.run_experiment(cfg, results_dir=tmp_path / 'results', progress=False)
    X.cache_path(cfg).parent.mkdir(parents=True); X.cache_path(cfg).write_text(__import__('json').dumps(committed))
    assert X.run_experiment(cfg, results_dir=tmp_path / 'results', progress=False) == committed   # this machine's cache: reused
    monkeypatch.setattr(X, 'data_fingerprint', lambda cfg: dict(fingerprint='ba9876543210', description='re-rendered'))
    with pytest.raises(_Trained): X.run_experiment(cfg, results_dir=tmp_path / 'results', progress=False)   # other data: not reused


def test_fresh_clone_plan_trains_every_run():
    "The repository holds committed records for the quick preset; the plan still trains every distinct run (none is 'reused' from them)."
    p = R.plan('quick')
    distinct = {n for s in p for n in s['runs']}
    trained = [n for s in p if not s['reused'] for n in s['runs']]
    assert sorted(set(trained)) == sorted(distinct) and len(trained) == len(distinct)
    assert all(s['minutes'] > 0 for s in p if s['runs'] and not s['reused'])
