"""Integration tests of `cmadepth.evaluate`: the console command, and (once the data and model modules are merged)
a full evaluation of a freshly initialised network on a tiny fake KITTI tree."""
import importlib, json, subprocess, sys
import numpy as np
import pytest


def test_import_light_and_help():
    code = ("import sys, cmadepth.evaluate as e; print(sorted(m for m in ('torch','pandas','matplotlib') if m in sys.modules)); "
            "e.main(['--help'])")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('[]'), "importing cmadepth.evaluate pulled in heavy modules"
    assert '--weights' in r.stdout and '--split' in r.stdout


def _have(*mods):
    for m in mods:
        try: importlib.import_module(m)
        except ImportError: return False
    return True


@pytest.mark.skipif(not _have('cmadepth.kitti', 'cmadepth.model', 'cmadepth.layers'),
                    reason='needs the data (cmadepth.kitti) and model (cmadepth.model, cmadepth.layers) modules')
def test_cli_untrained_on_fake_kitti(tmp_path, capsys):
    import pandas as pd, torch
    from cmadepth.config import Config
    from cmadepth.kitti import write_fake_kitti, export_gt_depths
    from cmadepth.evaluate import main
    torch.set_num_threads(1)
    root = write_fake_kitti(tmp_path / 'kitti', n_drives=1, n_frames=5, height=64, width=96)
    export_gt_depths(root, 'eigen_benchmark', progress=False)
    cfg = Config.make('full', 'tiny', data_path=str(root), split='eigen_zhou', eval_split='eigen_benchmark',
                      pretrained=False, num_workers=0, dataset='kitti')
    cfg_path = cfg.save(tmp_path / 'cfg.json')
    out = tmp_path / 'res' / 'results.csv'
    pc_out = tmp_path / 'res' / 'per_class.csv'
    main(['--config', str(cfg_path), '--split', 'eigen_benchmark', '--device', 'cpu', '--batch-size', '2',
          '--out', str(out), '--per-class-out', str(pc_out)])
    text = capsys.readouterr().out
    assert 'Abs Rel' in text and 'scaling ratios' in text
    tab = pd.read_csv(out, index_col=0)
    assert list(tab.index) == ['full', 'constant', 'layout_prior', 'untrained']
    assert np.isfinite(tab[['abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3']].to_numpy()).all()
    # a Config means a fresh network seeded with cfg.seed: identical to the untrained baseline
    np.testing.assert_allclose(tab.loc['full', 'abs_rel'], tab.loc['untrained', 'abs_rel'], rtol=1e-6)
    # every fake frame has the same depth layout: the layout prior is (almost) perfect, the constant is not
    assert tab.loc['layout_prior', 'abs_rel'] < 0.5 * tab.loc['constant', 'abs_rel']
    pc = pd.read_csv(pc_out, index_col=0)
    assert len(pc) == 19 and pc.loc['road', 'n_images'] > 0
