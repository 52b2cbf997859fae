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
