"""The documentation site (`make docs`) builds from the repository: `mkdocs build --strict`, nbs/index.ipynb as the landing
page, a page for every other notebook, an API page for every module, the results tables, and no broken internal link or
image in the built HTML."""
import ast, html, importlib.util, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
for _m in ('mkdocs', 'material', 'mkdocs_jupyter', 'mkdocstrings', 'mathjax'):
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


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    "The site, built once for the tests below: one notebook executed (the outputs path), the others as stored."
    return B.build(tmp_path_factory.mktemp('docs'), execute='01_structs', say=lambda *a: None)


def test_docs_site_builds(built):
    info = built
    site = info['site']
    nbs = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if p.name != 'index.ipynb')   # index.ipynb: the landing page
    assert nbs and info['notebooks'] == sorted(p.name for p in nbs)
    for p in nbs:
        page = site / 'nbs' / f'{p.stem}.html'
        assert page.exists(), page
        title = html.unescape(re.search(r'<title>(.*?)</title>', page.read_text(), re.S).group(1))
        assert title.startswith(B.notebook_title(p)), (p.name, title)
    assert 'jp-OutputArea-output' in (site / 'nbs' / '01_structs.html').read_text()     # executed: outputs rendered
    assert '<img' in (site / 'nbs' / '01_structs.html').read_text()                     # … its figure too (inline backend)
    for p in nbs:
        if re.match(r'(0\d|1[0-2])_', p.name):                  # the method notebooks show their stored figures
            assert '<img' in (site / 'nbs' / f'{p.stem}.html').read_text(), p.name
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


def test_equations_render_with_the_sites_own_mathjax(built):
    """Every page loads MathJax from the site itself (no CDN, nothing fetched at view time), configured before it loads;
    nbconvert's MathJax 2 loader (an empty URL by default) is gone; the maths of 05_cma's markdown is there for it."""
    site = built['site']
    mj = site / 'assets' / 'mathjax' / B.MATHJAX_FILE
    assert mj.stat().st_size > 1_000_000 and b'MathJax' in mj.read_bytes()[:200_000]
    assert (site / 'assets' / 'mathjax' / 'LICENSE').exists()
    cfg = (site / 'assets' / 'mathjax-config.js').read_text()
    assert "inlineMath: [['$', '$']" in cfg and '.jp-RenderedMarkdown' in cfg
    page = (site / 'nbs' / '05_cma.html').read_text()
    scripts = re.findall(r'<script src="([^"]*)"', page)
    assert '../assets/mathjax-config.js' in scripts and f'../assets/mathjax/{B.MATHJAX_FILE}' in scripts
    assert scripts.index('../assets/mathjax-config.js') < scripts.index(f'../assets/mathjax/{B.MATHJAX_FILE}')
    assert not [u for u in scripts if u.startswith(('http:', 'https:', '//')) or not u], scripts
    assert 'Load mathjax' not in page and 'x-mathjax-config' not in page
    md = re.findall(r'<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>(.*?)</div>', page, re.S)
    assert any('$Q = W_Q * B' in m for m in md) and any('$$x_d' in m for m in md)
    exe = sorted((site / 'results' / 'executed').glob('*.html'))
    for f in [site / 'index.html', site / 'developing.html'] + exe[:1]:
        assert f'assets/mathjax/{B.MATHJAX_FILE}' in f.read_text(), f


def _browser():
    import shutil
    return next((b for b in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason='no headless Chromium (apt-get install chromium) to render the page')
def test_equations_are_typeset_in_a_browser(built):
    "Headless Chromium opens the built 05_cma page from disk: MathJax turns its maths into SVG, without a TeX error."
    import subprocess
    page = built['site'] / 'nbs' / '05_cma.html'
    r = subprocess.run([_browser(), '--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=15000',
                        '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = r.stdout
    assert dom.count('<mjx-container') >= 20, dom[:500]
    assert 'jax="SVG"' in dom and 'display="true"' in dom                # inline and display maths
    assert not re.search(r'<g[^>]*data-mml-node="merror"', dom)         # no TeX error


def test_one_title_per_page(built):
    "Notebook pages, executed notebooks (titled with the parameters they ran with) and tables: no two share a title."
    site = built['site']
    pages = [f for f in site.rglob('*.html') if f.parent.name != 'api' and f.name not in ('404.html', 'index.html')]
    titles = {}
    for f in pages:
        t = html.unescape(re.search(r'<title>(.*?)</title>', f.read_text(), re.S).group(1))
        titles.setdefault(t, []).append(str(f.relative_to(site)))
    assert not {t: fs for t, fs in titles.items() if len(fs) > 1}
    cma = (site / 'results' / 'executed' / 'train_eval-quick-variantcma.html')
    if cma.exists(): assert '<title>Train and evaluate one configuration — variant cma, preset quick' in cma.read_text()


def test_executed_notebooks_are_titled_with_their_parameters(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('# Ablation: the margin\n\ntext'),
                nbformat.v4.new_code_cell('# Parameters\nm = 0.2\npreset = "quick"\nresults_dir = "results"\n',
                                          metadata={'tags': ['injected-parameters']})]
    p = tmp_path / 'x.ipynb'; nbformat.write(nb, str(p))
    assert B.notebook_parameters(json.loads(p.read_text())) == {'m': 0.2, 'preset': 'quick', 'results_dir': 'results'}
    assert B.retitle_executed(p) == 'Ablation: the margin — m 0.2, preset quick'
    assert B.notebook_title(p) == 'Ablation: the margin — m 0.2, preset quick'


def test_wide_tables_scroll(built):
    "The results tables are wrapped so that their rows stay on one line, and the CSS lets every table scroll sideways."
    site = built['site']
    css = (site / 'assets' / 'extra.css').read_text()
    assert 'overflow-x: auto' in css and '.data-table td' in css
    assert '<link rel="stylesheet" href="../assets/extra.css">' in (site / 'nbs' / '05_cma.html').read_text()
    for t in built['tables']:
        page = (site / 'results' / t.replace('.md', '.html')).read_text()
        assert page.count('<table>') == page.count('<div class="data-table"><table>') > 0, t


def test_executed_pages_leave_out_tqdms_widget_warning(tmp_path):
    "tqdm.auto warns 'IProgress not found' on stderr in a kernel without ipywidgets: not shown on the site; other stderr is."
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}})
    nb.cells = [nbformat.v4.new_code_cell('import sys\nprint("TqdmWarning: IProgress not found. Please update jupyter", file=sys.stderr)\n'
                                          'sys.stderr.flush()\nprint("kept", file=sys.stderr)')]
    src, dst = tmp_path / 'x.ipynb', tmp_path / 'out.ipynb'
    nbformat.write(nb, str(src))
    assert B.execute_notebook(src, dst, tmp_path / 'cache') == 'executed'
    text = ''.join(o.get('text', '') for o in nbformat.read(str(dst), as_version=4).cells[0].outputs)
    assert 'IProgress' not in text and 'kept' in text
