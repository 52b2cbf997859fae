"""The documentation site (`make docs`) builds from the repository: `mkdocs build --strict`, nbs/index.ipynb as the landing
page, a page for every other notebook, an API page for every module, the results tables, and no broken internal link or
image in the built HTML."""
import ast, html, importlib.util, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
for _m in ('mkdocs', 'material', 'mkdocs_jupyter', 'mkdocstrings'):
    pytest.importorskip(_m, reason='the [docs] extra is not installed: pip install -e ".[docs]" (make setup installs it)')

_spec = importlib.util.spec_from_file_location('build_docs', ROOT / 'scripts' / 'build_docs.py')
B = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(B)


def test_link_check_finds_broken_links(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'index.html').write_text('<a href="a/b.html#x">ok</a> <a href="a/none.html">bad</a> <img src="img.png">'
                                         '<a href="a/b.html#nope">bad anchor</a> <a href="https://example.org/x">ext</a>')
    (tmp_path / 'a' / 'b.html').write_text('<h2 id="x">x</h2><a href="../index.html">up</a>')
    assert sorted((l, w) for _, l, w in B.check_links(tmp_path)) == [
        ('a/b.html#nope', 'no such anchor'), ('a/none.html', 'missing'), ('img.png', 'missing')]


def test_skipped_cells_keep_their_stored_outputs(tmp_path):
    "A `#| eval: false` cell (e.g. a figure from a trained model) is not run when the docs execute a notebook, but keeps its output."
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}})
    nb.cells = [nbformat.v4.new_code_cell('print(6 * 7)'),
                nbformat.v4.new_code_cell('#| eval: false\nraise SystemExit("must not run")',
                                          outputs=[nbformat.v4.new_output('stream', name='stdout', text='stored\n')])]
    src, dst = tmp_path / 'x.ipynb', tmp_path / 'out.ipynb'
    nbformat.write(nb, str(src))
    assert B.execute_notebook(src, dst, tmp_path / 'cache') == 'executed'
    cells = nbformat.read(str(dst), as_version=4).cells
    assert [c.cell_type for c in cells] == ['code', 'code']
    assert cells[0].outputs[0]['text'] == '42\n' and cells[1].outputs[0]['text'] == 'stored\n'


def test_docs_site_builds(tmp_path):
    info = B.build(tmp_path, execute='01_structs', say=lambda *a: None)   # one notebook executed: the outputs path
    site = info['site']
    nbs = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if p.name != 'index.ipynb')   # index.ipynb: the landing page
    assert nbs and info['notebooks'] == sorted(p.name for p in nbs)
    for p in nbs:
        page = site / 'nbs' / f'{p.stem}.html'
        assert page.exists(), page
        title = html.unescape(re.search(r'<title>(.*?)</title>', page.read_text(), re.S).group(1))
        assert title.startswith(B.notebook_title(p)), (p.name, title)
    assert 'jp-OutputArea-output' in (site / 'nbs' / '01_structs.html').read_text()     # executed: outputs rendered
    assert info['executed'] == {'01_structs': 'executed'}
    mods = sorted(p.stem for p in (ROOT / 'cmadepth').glob('*.py') if not p.stem.startswith('_'))
    assert info['modules'] == mods
    for m in mods:
        page = (site / 'api' / f'{m}.html').read_text()
        tree = ast.parse((ROOT / 'cmadepth' / f'{m}.py').read_text())
        public = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith('_')]
        for name in public:
            assert f'id="cmadepth.{m}.{name}"' in page, (m, name)            # every public function and class is documented
    for t in (ROOT / 'results').glob('table*.md'):
        assert (site / 'results' / f'{t.stem}.html').exists(), t
    for e in (ROOT / 'results' / 'executed').glob('*.ipynb'):
        assert (site / 'results' / 'executed' / f'{e.stem}.html').exists(), e
    home = (site / 'index.html').read_text()
    assert B.index_markdown(ROOT).splitlines()[0] == '# cmadepth' and '<h1 id="cmadepth">cmadepth</h1>' in home
    assert 'FSRE-Depth' in home and 'href="nbs/00_config.html"' in home and 'href="results/table7_margin.html"' in home
    assert (site / 'developing.html').exists()
    assert B.check_links(site) == []
