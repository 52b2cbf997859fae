"""The package imports fast: nothing heavy (torch, pandas, matplotlib) is imported by `import cmadepth`; the conda
environment installs the same extras as `make setup`."""
import re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light():
    code = "import sys, cmadepth; print(cmadepth.__version__); print(sorted(m for m in ('torch','pandas','matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split('\n')
    assert out[0].count('.') == 2
    assert out[1] == '[]', f"import cmadepth pulled in {out[1]}"


def test_conda_environment_installs_the_extras_of_make_setup():
    extras = lambda text: sorted(re.search(r'-e "?\.\[([a-z,]+)\]', text).group(1).split(','))
    make, env = extras((ROOT / 'Makefile').read_text()), extras((ROOT / 'environment.yml').read_text())
    assert make == env == ['dev', 'docs'], (make, env)
