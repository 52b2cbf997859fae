"""README.md is generated from nbs/index.ipynb (`make readme`), so the two cannot drift; the generator keeps markdown
cells as written, runs `#| output: asis` cells now (the results part, from results/), shows other code cells with their
text outputs, leaves `#| hide` cells out, and reads a hand edit back. The README is a front page: ≤ 150 lines, no
lab-log words, commit hashes only in provenance lines, and its one estimate of the main job is the dry run's."""
import importlib.util, json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('build_docs', ROOT / 'scripts' / 'build_docs.py')
B = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(B)


def test_readme_is_what_index_ipynb_generates():
    assert (ROOT / 'README.md').read_text() == B.readme_text(ROOT), \
        "README.md differs from nbs/index.ipynb: edit the notebook and run `make readme` " \
        "(a hand edit of README.md: `python scripts/build_docs.py --index-from-readme`, then `make readme`)"


def _nb(cells):
    return {'cells': cells, 'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}},
            'nbformat': 4, 'nbformat_minor': 5}


def test_generator_cells_and_the_way_back(tmp_path):
    (tmp_path / 'nbs').mkdir()
    md = lambda s: {'cell_type': 'markdown', 'id': 'a', 'metadata': {}, 'source': s}
    code = lambda s, outs: {'cell_type': 'code', 'id': 'b', 'metadata': {}, 'execution_count': 1, 'source': s, 'outputs': outs}
    (tmp_path / 'nbs' / 'index.ipynb').write_text(json.dumps(_nb([
        md(['# t\n', '\n', 'intro\n']), code('#| hide\nimport os', []),
        code('print(1 + 1)', [{'output_type': 'stream', 'name': 'stdout', 'text': ['2\n']}]),
        code('3', [{'output_type': 'execute_result', 'data': {'text/plain': '3'}, 'metadata': {}, 'execution_count': 1}]),
        md('## s\n\ntext\n\n')])))
    assert B.readme_text(tmp_path) == B.README_NOTE + '# t\n\nintro\n\n```python\nprint(1 + 1)\n```\n\n```\n2\n```\n\n```python\n3\n```\n\n```\n3\n```\n\n## s\n\ntext\n'
    assert B.write_readme(tmp_path) and not B.write_readme(tmp_path)
    # the way back: markdown-only notebooks, one cell per `## ` section (not inside a code fence)
    (tmp_path / 'nbs' / 'index.ipynb').write_text(json.dumps(_nb([md('# t\n')])))
    (tmp_path / 'README.md').write_text(B.README_NOTE + '# t\n\nx\n\n```bash\n## not a heading\n```\n\n## a\n\ny\n\n## b\n\nz\n')
    B.index_from_readme(tmp_path)
    cells = json.loads((tmp_path / 'nbs' / 'index.ipynb').read_text())['cells']
    assert [''.join(c['source']).splitlines()[0] for c in cells] == ['# t', '## a', '## b']
    assert B.readme_text(tmp_path) == (tmp_path / 'README.md').read_text()


def test_asis_cells_are_generated_now(tmp_path):
    "A `#| output: asis` code cell runs at build time (from nbs/, like Jupyter) and what it prints goes in as markdown, its source hidden."
    (tmp_path / 'nbs').mkdir()
    (tmp_path / 'data.txt').write_text('**from a file**')
    cell = {'cell_type': 'code', 'id': 'c', 'metadata': {}, 'execution_count': None, 'outputs': [],
            'source': "#| echo: false\n#| output: asis\nprint(open('../data.txt').read())"}
    (tmp_path / 'nbs' / 'index.ipynb').write_text(json.dumps(_nb([{'cell_type': 'markdown', 'id': 'a', 'metadata': {}, 'source': '# t'}, cell])))
    assert B.index_markdown(tmp_path) == '# t\n\n**from a file**\n'
    (tmp_path / 'data.txt').write_text('changed')
    assert B.index_markdown(tmp_path) == '# t\n\nchanged\n'


README = (ROOT / 'README.md').read_text()
HASH = re.compile(r'\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b')


def test_readme_is_a_front_page():
    "≤ 150 lines; no lab-log words; a commit hash only in a provenance line; the results part generated, with provenance."
    lines = README.splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines (at most 150)'
    for word in ('issue', 'session', 'sizing run', 'shared with other work'):
        assert word not in README.lower(), word
    for l in lines:
        if '*Provenance:*' not in l: assert not HASH.search(l), l
    assert '## What this repository shows' in README and README.count('*Provenance:*') >= 2
    assert '| layout prior |' in README                                  # Table 2's variants beside the baseline


def test_readme_estimate_is_the_dry_runs():
    "The README's one estimate of the main job is what `cmadepth-reproduce --dry-run --jobs 2` prints for a fresh clone."
    exe = shutil.which('cmadepth-reproduce') or str(Path(sys.executable).parent / 'cmadepth-reproduce')
    r = subprocess.run([exe, '--dry-run', '--jobs', '2'], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr
    dry = re.search(r'on a fresh clone about (\d+) min', r.stdout.splitlines()[0])
    ours = re.findall(r'about \*\*(\d+) min on a 2-core CPU\*\*', README)
    assert dry and ours == [dry.group(1)], (r.stdout.splitlines()[0], ours)
    assert len(re.findall(r'\b\d+ min\b', README.split('## What this repository shows')[0])) == 1     # one estimate, no other
