"""README.md is generated from nbs/index.ipynb (`make readme`), so the two cannot drift; the generator keeps markdown
cells as written, shows code cells with their text outputs, leaves `#| hide` cells out, and reads a hand edit back."""
import importlib.util, json, shutil
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
