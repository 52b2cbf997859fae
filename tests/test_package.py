"""The package imports fast: nothing heavy (torch, pandas, matplotlib) is imported by `import cmadepth`."""
import subprocess, sys


def test_import_is_light():
    code = "import sys, cmadepth; print(cmadepth.__version__); print(sorted(m for m in ('torch','pandas','matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split('\n')
    assert out[0].count('.') == 2
    assert out[1] == '[]', f"import cmadepth pulled in {out[1]}"
