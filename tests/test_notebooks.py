"""Notebooks a reader can open and follow alone: a kernelspec (no "Select Kernel" dialog), no citations of a file
users do not have, and nbdev_clean keeps the kernelspec."""
import json, re, shutil, subprocess, sys
from pathlib import Path

NBS = sorted((Path(__file__).parents[1] / 'nbs').glob('*.ipynb'))


def test_every_notebook_has_a_kernelspec():
    missing = [p.name for p in NBS if json.loads(p.read_text())['metadata'].get('kernelspec', {}).get('name') != 'python3']
    assert not missing, f"notebooks without a python3 kernelspec: {missing}"


def test_nbdev_clean_keeps_the_kernelspec(tmp_path):
    nb = tmp_path / 'x.ipynb'
    shutil.copy(NBS[0], nb)
    exe = Path(sys.executable).with_name('nbdev_clean')
    subprocess.run([str(exe), '--fname', str(nb)], check=True, capture_output=True, cwd=tmp_path)
    assert json.loads(nb.read_text())['metadata']['kernelspec']['name'] == 'python3'


def test_decoder_parts_are_named_not_indexed():
    "Outside the decoders' own notebook nothing indexes the flat block list or asks which decoder class it has."
    bad = []
    for p in NBS:
        if p.name == '04_decoders.ipynb': continue
        for c in json.loads(p.read_text())['cells']:
            src = ''.join(c['source'])
            for pat in (r'\.decoder\[\s*\d*\s*[-+]?\s*\d*\s*\*?\s*i', r'\.decoder\[10', r'isinstance\([^)]*Decoder\)'):
                if re.search(pat, src): bad.append((p.name, pat))
    assert not bad, bad


def test_no_citations_of_files_users_lack():
    "Notebooks, generated modules, README and DEVELOPING cite the paper, never the project's internal method spec."
    root = Path(__file__).parents[1]
    files = NBS + sorted((root / 'cmadepth').glob('*.py')) + [root / 'README.md', root / 'DEVELOPING.md']
    bad = [(p.name, pat) for p in files for pat in ('spec §', 'method spec', 'method-spec.md', 'training-on-cpu.md')
           if pat in p.read_text()]
    assert not bad, f"citations of documents users do not have: {bad}"


METHOD = [p for p in NBS if re.match(r'(0\d|1[0-2])_', p.name)]     # the method notebooks 00–12


def _images(p): return [o for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code'
                        for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]


def test_method_notebooks_store_their_figures():
    "JupyterLab and the docs show every method notebook's figure without running it: each holds a stored PNG, small."
    assert len(METHOD) >= 15, [p.name for p in METHOD]
    bare = [p.name for p in METHOD if not _images(p)]
    assert not bare, f"method notebooks without a stored figure (python scripts/build_docs.py --store-figures NB): {bare}"
    big = [(p.name, p.stat().st_size // 1024) for p in METHOD if p.stat().st_size > 320 * 1024]
    assert not big, f"notebooks over 320 KB (draw the figure smaller, dpi ≤ 80): {big}"


def test_nbdev_clean_keeps_stored_figures(tmp_path):
    "settings.ini's clear_all=False: nbdev_clean leaves a stored figure as it is (the sync check runs it)."
    src = next(p for p in METHOD if _images(p))
    nb = tmp_path / src.name
    shutil.copy(src, nb)
    exe = Path(sys.executable).with_name('nbdev_clean')
    subprocess.run([str(exe), '--fname', str(nb)], check=True, capture_output=True, cwd=Path(__file__).parents[1])
    assert nb.read_text() == src.read_text()
