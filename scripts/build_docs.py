"""Build the cmadepth documentation site (`make docs`) from the notebooks, README, DEVELOPING and results/.

    python scripts/build_docs.py                    # → _docs/site/index.html (cheap notebooks executed, cached)
    python scripts/build_docs.py --execute none     # render every notebook as stored (fast; what the test does)
    python scripts/build_docs.py --execute all      # execute every library notebook (slow on a small CPU)
    python scripts/build_docs.py --readme           # only write README.md from nbs/index.ipynb (`make readme`)
    python scripts/build_docs.py --store-figures nbs/08_geometry.ipynb   # run it, store its figures in it (then commit)

Why not nbdev's own `nbdev_docs`: it needs Quarto, whose installer downloads a binary; this builder is MkDocs with
mkdocs-material (theme), mkdocs-jupyter (notebook pages) and mkdocstrings (API reference), all from the package
index (`pip install -e ".[docs]"`, which `make setup` does). Sources, in one direction only:

* `nbs/index.ipynb` is the source of the landing page (`index.md`, with its table of notebooks linked to their pages)
  and of `README.md` (`readme_text`; `--readme` writes it, `tests/test_readme.py` checks that README.md is exactly that);
* `nbs/*.ipynb` → one page each (library notebooks in paper order, then the experiment notebooks);
* `results/` → the tables (`results/*.md`), figures, run records and the executed experiment notebooks;
* `cmadepth/*.py` → one API reference page per module (signatures and docstrings, read statically by griffe);
* `DEVELOPING.md` → the developer guide.

Everything is staged under `<out>/src` (generated, git-ignored), built with `mkdocs build --strict` into
`<out>/site`, and every internal link and image of the built HTML is then checked (`check_links`).
"""
from __future__ import annotations
import argparse, hashlib, html.parser, json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
# Library notebooks cheap enough to execute in every `make docs` (each well under a minute on 2 CPU cores);
# the others are rendered as stored unless `--execute all` (outputs are cached by notebook content).
CHEAP = ('00_config', '00_errors', '01_structs', '02_layers', '03_encoders', '04_decoders', '05_cma', '06_model',
         '08_geometry', '09_sgt', '18_results', '19_paper')
SECTIONS = (('The method', range(0, 11)), ('Data and training', range(11, 14)),
            ('Evaluation and inference', range(14, 18)), ('Experiments and tables (library)', range(18, 24)))
SKIP_DIRECTIVES = re.compile(r'^#\|\s*(eval:\s*false|slow)\b', re.M)


def notebook_title(path:Path)->str:
    "The first markdown heading of a notebook (its file stem when it has none)."
    for c in json.loads(path.read_text())['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', ''.join(c['source']), re.M)
            if m: return m.group(1).strip()
    return path.stem


def notebook_parameters(nb:dict)->dict:
    "The papermill parameters a notebook was executed with (its `injected-parameters` cell), as {name: value}; {} if none."
    import ast
    for c in nb['cells']:
        if c['cell_type'] == 'code' and 'injected-parameters' in c.get('metadata', {}).get('tags', []):
            out = {}
            for node in ast.parse(_cell_text(c)).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try: out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError: pass
            return out
    return {}


def retitle_executed(path:Path)->str:
    """Give an executed experiment notebook its own title: its first `# ` heading followed by the parameters it ran
    with (not `results_dir`), e.g. 'Train and evaluate one configuration — variant cma, preset quick, seeds 0,1,2'.
    Rewrites the heading in `path` (a staged copy) and returns the title."""
    nb = json.loads(path.read_text())
    params = {k: v for k, v in notebook_parameters(nb).items() if k != 'results_dir'}
    suffix = ', '.join(f'{k} {v}' for k, v in params.items()) or path.stem
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src = _cell_text(c); m = re.search(r'^#\s+(.+)$', src, re.M)
        if not m: continue
        title = f'{m.group(1).strip()} — {suffix}'
        c['source'] = src[:m.start()] + f'# {title}' + src[m.end():]
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False)); return title
    return path.stem


def library_notebooks(root:Path=ROOT)->list:
    "Notebooks whose name starts with a number (they export a module), in file order."
    return sorted(p for p in (root / 'nbs').glob('[0-9]*.ipynb'))


def experiment_notebooks(root:Path=ROOT)->list:
    "The other notebooks (papermill experiments, data preparation); not `index.ipynb`, which is the landing page."
    return sorted(p for p in (root / 'nbs').glob('*.ipynb') if not p.name[0].isdigit() and p.name != INDEX.name)


def api_modules(root:Path=ROOT)->list:
    return sorted(p.stem for p in (root / 'cmadepth').glob('*.py') if not p.stem.startswith('_'))


# ---------------------------------------------------------------------------------------------- execution
_TQDM_WARNING = re.compile(r'^.*TqdmWarning: IProgress not found.*\n(?:\s+from \.autonotebook import.*\n)?', re.M)


def _drop_tqdm_warning(o):
    "A stderr output without tqdm.auto's ipywidgets warning (None when nothing else is left)."
    if o.get('name') != 'stderr': return o
    text = _TQDM_WARNING.sub('', o.get('text', ''))
    if not text.strip(): return None
    o['text'] = text; return o


def execute_notebook(src:Path, dst:Path, cache:Path, timeout:int=600)->str:
    """Execute `src` (from its folder, as nbdev_test does: `IN_TEST=1`, cells tagged `#| slow` or `#| eval: false`
    not run but shown with their stored outputs) into `dst`; outputs are cached in `cache` by the notebook's content. Returns 'cached', 'executed' or
    'failed: <reason>' (then `dst` is the stored notebook)."""
    import nbformat
    from nbclient import NotebookClient
    text = src.read_text()
    key = hashlib.sha1(text.encode()).hexdigest()[:16]
    hit = cache / f'{src.stem}-{key}.ipynb'
    if hit.exists(): shutil.copy(hit, dst); return 'cached'
    nb = nbformat.reads(text, as_version=4)
    skipped = {}                                 # cell index → its stored outputs (kept: e.g. a figure of a slow cell)
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'code' and SKIP_DIRECTIVES.search(c.source):
            skipped[i] = (c.get('outputs', []), c.get('execution_count'))
            c.cell_type = 'raw'; c.pop('outputs', None); c.pop('execution_count', None)
    env = {**os.environ, 'IN_TEST': '1', 'TQDM_DISABLE': '1', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'),
           'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}   # figures become image outputs
    old = dict(os.environ); os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(src.parent)}}).execute()
    except Exception as e:                                       # a failing notebook is rendered as stored, and said so
        shutil.copy(src, dst); return f'failed: {type(e).__name__}: {str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""}'
    finally:
        os.environ.clear(); os.environ.update(old)
    for i, (outputs, count) in skipped.items():
        c = nb.cells[i]; c.cell_type = 'code'; c.outputs = outputs; c.execution_count = count
        c.pop('attachments', None)
    for c in nb.cells:                           # tqdm.auto's "IProgress not found" (no ipywidgets) is no part of the page
        if c.cell_type == 'code': c.outputs = [o for o in map(_drop_tqdm_warning, c.get('outputs', [])) if o is not None]
    cache.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(hit)); shutil.copy(hit, dst)
    return 'executed'


def _has_image(outputs)->bool: return any(k.startswith('image/') for o in outputs for k in o.get('data', {}))


def store_figures(path:Path, say=print)->int:
    """Store a notebook's figures in it, so that JupyterLab and the site show them without running it: execute `path`
    as the docs do (`execute_notebook`: `IN_TEST=1`, cells tagged `#| slow` / `#| eval: false` not run and keeping what
    they hold), copy into the notebook the outputs of every cell that drew an image (the other cells keep what they
    have, usually nothing), then `nbdev_clean` it. Returns the number of cells whose outputs were stored."""
    import tempfile
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory() as td:
        dst = Path(td) / path.name
        status = execute_notebook(path, dst, Path(td) / 'cache')
        if status != 'executed': raise SystemExit(f'{path.name}: {status}')
        ran = json.loads(dst.read_text())['cells']
    nb = json.loads(path.read_text())
    if [c.get('id') for c in nb['cells']] != [c.get('id') for c in ran]: raise SystemExit(f'{path.name}: changed while it ran')
    n = 0
    for c, r in zip(nb['cells'], ran):
        if c['cell_type'] == 'code' and _has_image(r.get('outputs', [])) and not SKIP_DIRECTIVES.search(_cell_text(c)):
            c['outputs'] = [o for o in r['outputs'] if o.get('name') != 'stderr']; n += 1     # not the warnings
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    subprocess.run([str(Path(sys.executable).with_name('nbdev_clean')), '--fname', str(path)], check=True, capture_output=True, cwd=ROOT)
    say(f'{path.name}: stored the outputs of {n} figure cell(s), {path.stat().st_size / 1024:.0f} KB')
    return n


# ---------------------------------------------------------------------------------------------- README
INDEX = Path('nbs') / 'index.ipynb'
README_NOTE = ('<!-- Generated from nbs/index.ipynb by `make readme` (scripts/build_docs.py --readme): edit the notebook, '
               'then run it. -->\n')
_HIDE = re.compile(r'^#\|\s*hide\b', re.M)


def _cell_text(c)->str: return ''.join(c['source']) if isinstance(c['source'], list) else c['source']


_ASIS = re.compile(r'^#\|\s*output:\s*asis\b', re.M)


def run_asis(src:str, root:Path=ROOT)->str:
    """Run a `#| output: asis` cell of the landing page now, as Jupyter would (working directory `nbs/`, the checkout's
    `cmadepth` first on the path), and return what it prints: markdown, generated from the files it reads (`results/`)."""
    import contextlib, io
    buf, cwd, path = io.StringIO(), os.getcwd(), list(sys.path)
    try:
        os.chdir(root / 'nbs'); sys.path.insert(0, str(root))
        with contextlib.redirect_stdout(buf): exec(compile(src, f'{root / INDEX} (an output: asis cell)', 'exec'), {'__name__': '__main__'})
    finally:
        os.chdir(cwd); sys.path[:] = path
    return buf.getvalue()


def index_markdown(root:Path=ROOT)->str:
    """The landing page's markdown from `nbs/index.ipynb`, in cell order: markdown cells as written; a code cell tagged
    `#| output: asis` is run now (`run_asis`) and what it prints goes in as markdown (its source is not shown: the README's
    results are generated from `results/` each time, never typed); other code cells (unless `#| hide`) as ```python
    blocks, followed by their text outputs in a plain block; cells are separated by one blank line."""
    nb = json.loads((root / INDEX).read_text())
    parts = []
    for c in nb['cells']:
        src = _cell_text(c).strip('\n')
        if not src: continue
        if c['cell_type'] == 'markdown': parts.append(src)
        elif c['cell_type'] == 'code' and _ASIS.search(src):
            out = run_asis(src, root).strip('\n')
            if out: parts.append(out)
        elif c['cell_type'] == 'code' and not _HIDE.search(src):
            parts.append(f'```python\n{src}\n```')
            out = ''.join(''.join(o.get('text', '')) if o.get('output_type') == 'stream' else ''.join(o.get('data', {}).get('text/plain', ''))
                          for o in c.get('outputs', [])).strip('\n')
            if out: parts.append(f'```\n{out}\n```')
    return '\n\n'.join(parts) + '\n'


def readme_text(root:Path=ROOT)->str:
    "README.md as `make readme` writes it: a one-line note naming its source, then `index_markdown`."
    return README_NOTE + index_markdown(root)


def write_readme(root:Path=ROOT)->bool:
    "Write README.md from nbs/index.ipynb; True when it changed."
    text, p = readme_text(root), root / 'README.md'
    if p.exists() and p.read_text() == text: return False
    tmp = p.with_name('README.md.tmp'); tmp.write_text(text); tmp.replace(p)
    return True


def index_from_readme(root:Path=ROOT)->None:
    """The way back, for a hand edit of README.md (e.g. one merged from a branch): rewrite nbs/index.ipynb's markdown
    cells from README.md, one cell per `## ` section. Refused when the notebook holds code cells (they are not in the
    README's text in a form that can be read back)."""
    p = root / INDEX
    nb = json.loads(p.read_text())
    if any(c['cell_type'] != 'markdown' for c in nb['cells']):
        raise SystemExit(f"{p}: has code cells; edit the notebook itself")
    text = (root / 'README.md').read_text()
    if text.startswith(README_NOTE): text = text[len(README_NOTE):]
    sections, cur, fence = [], [], False
    for line in text.splitlines(keepends=True):
        if line.startswith('```'): fence = not fence
        if line.startswith('## ') and not fence and cur: sections.append(''.join(cur)); cur = []
        cur.append(line)
    sections.append(''.join(cur))
    ids = [c.get('id') for c in nb['cells']]
    nb['cells'] = [{'cell_type': 'markdown', 'id': ids[i] if i < len(ids) and ids[i] else hashlib.sha1(s.encode()).hexdigest()[:8],
                    'metadata': {}, 'source': s.strip('\n').splitlines(keepends=True)} for i, s in enumerate(sections)]
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')


# ---------------------------------------------------------------------------------------------- staging
def _landing_page(readme:str, nb_stems:set)->str:
    "The landing page (`index_markdown`): links into results/ folders go to their index pages, notebook names link."
    text = readme.replace('](results/runs/)', '](results/runs/index.md)').replace('](results/executed/)', '](results/executed/index.md)')
    text = text.replace('](DEVELOPING.md)', '](developing.md)').replace('](results/README.md)', '](results/index.md)')
    def link_cell(m):
        stem = m.group(1)
        return f'| [{stem}](nbs/{stem}.ipynb) |' if stem in nb_stems else m.group(0)
    return re.sub(r'^\| ([0-9A-Za-z_]+) \|', link_cell, text, flags=re.M)


# Maths: MathJax 3 (its single-file `tex-svg-full.js`: every TeX extension, SVG output with the glyphs inside, so nothing
# is loaded at view time, not even fonts, and pages opened as file:// render too), copied into the site from the
# `django-static-mathjax` package (a plain copy of MathJax's npm release; the [docs] extra installs it, Django is not
# needed). It typesets the notebooks' markdown cells (nbconvert leaves `$…$` as written) and the spans `arithmatex`
# makes of `$…$` in the markdown pages; nothing else (code, outputs, API pages) is scanned for dollar signs.
MATHJAX_FILE = 'tex-svg-full.js'
MATHJAX_CONFIG = r"""// MathJax 3 configuration (read before assets/mathjax/tex-svg-full.js loads; see scripts/build_docs.py)
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: 'tex2jax_ignore'},
  svg: {fontCache: 'global'},
  startup: {elements: ['.jp-RenderedMarkdown', '.jp-RenderedLatex', '.arithmatex']}
};
"""
# Wide tables scroll sideways inside the page instead of being squeezed or cut off: header cells keep to one line (so
# a table wider than the page becomes wider, not taller) and the table itself scrolls, in markdown pages and notebooks;
# the results tables (wrapped in `data-table` by `mark_data_tables`) and DataFrames keep every row on one line.
EXTRA_CSS = """/* cmadepth docs (scripts/build_docs.py) */
.md-typeset table:not([class]) { display: block; max-width: 100%; overflow-x: auto; }
.md-typeset table:not([class]) th { white-space: nowrap; }
.data-table td, .jp-RenderedHTMLCommon table.dataframe td { white-space: nowrap; }   /* results tables, DataFrames: one line a row */
.jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
.jp-RenderedHTMLCommon table th { white-space: nowrap; }
.jp-OutputArea-output { overflow-x: auto; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; }
"""


def mathjax_source()->Path:
    "MathJax's single-file build in the installed `django-static-mathjax` package (the [docs] extra)."
    import importlib.util
    spec = importlib.util.find_spec('mathjax')
    f = Path(spec.origin).parent / 'static' / 'mathjax' / 'es5' / MATHJAX_FILE if spec and spec.origin else None
    if f is None or not f.exists():
        raise SystemExit(f'build_docs: MathJax ({MATHJAX_FILE}) is not installed: pip install -e ".[docs]" '
                         '(the django-static-mathjax package; make setup installs it)')
    return f


def write_assets(src:Path)->list:
    "The site's own assets under `src/assets/`: MathJax (with its licence), its configuration, the extra CSS. Returns the scripts."
    d = src / 'assets'; (d / 'mathjax').mkdir(parents=True, exist_ok=True)
    mj = mathjax_source()
    shutil.copy(mj, d / 'mathjax' / MATHJAX_FILE)
    lic = mj.parents[1] / 'LICENSE'
    if lic.exists(): shutil.copy(lic, d / 'mathjax' / 'LICENSE')
    (d / 'mathjax-config.js').write_text(MATHJAX_CONFIG)
    (d / 'extra.css').write_text(EXTRA_CSS)
    return ['assets/mathjax-config.js', f'assets/mathjax/{MATHJAX_FILE}']


def _listing(title:str, intro:str, rows:list)->str:
    return f'# {title}\n\n{intro}\n\n' + '\n'.join(f'- {r}' for r in rows) + '\n'


def stage(out:Path, execute='cheap', root:Path=ROOT, say=print)->dict:
    "Write the MkDocs project (`<out>/mkdocs.yml`, `<out>/src/`); returns the nav and what was executed."
    src = out / 'src'
    if src.exists(): shutil.rmtree(src)
    (src / 'nbs').mkdir(parents=True); (src / 'api').mkdir()
    lib, exp = library_notebooks(root), experiment_notebooks(root)
    run = {'none': set(), 'all': {p.stem for p in lib}, 'cheap': set(CHEAP)}.get(execute)
    if run is None: run = set(execute.split(','))
    status = {}
    for p in lib + exp:
        dst = src / 'nbs' / p.name
        if p.stem in run:
            t = time.perf_counter(); status[p.stem] = execute_notebook(p, dst, out / 'cache')
            say(f'  {p.stem}: {status[p.stem]} ({time.perf_counter() - t:.0f} s)')
        else: shutil.copy(p, dst)
    # results: tables, figures, run records, executed notebooks
    res = root / 'results'
    shutil.copytree(res, src / 'results', ignore=shutil.ignore_patterns('*.tmp*', '*.failed.ipynb'))
    if (src / 'results' / 'README.md').exists(): (src / 'results' / 'README.md').rename(src / 'results' / 'index.md')
    runs = sorted((src / 'results' / 'runs').glob('*.json')) if (src / 'results' / 'runs').is_dir() else []
    (src / 'results' / 'runs').mkdir(parents=True, exist_ok=True)
    (src / 'results' / 'runs' / 'index.md').write_text(_listing(
        'Run records', 'One record per training run (configuration, metrics, baselines, learning curve, provenance).',
        [f'[{r.stem}]({r.name})' + (f' · [curve]({r.stem}.png)' if r.with_suffix('.png').exists() else '') for r in runs]))
    executed = sorted((src / 'results' / 'executed').glob('*.ipynb')) if (src / 'results' / 'executed').is_dir() else []
    executed_titles = {e.name: retitle_executed(e) for e in executed}     # one title per page: the parameters it ran with
    (src / 'results' / 'executed').mkdir(parents=True, exist_ok=True)
    (src / 'results' / 'executed' / 'index.md').write_text(_listing(
        'Executed experiment notebooks', 'The copies `cmadepth-reproduce` executed, with their outputs.',
        [f'[{executed_titles[e.name]}]({e.name})' for e in executed]))
    tables = sorted((src / 'results').glob('table*.md'))
    # landing page, developer guide, API reference
    (src / 'index.md').write_text(_landing_page(index_markdown(root), {p.stem for p in lib + exp}))
    (src / 'developing.md').write_text((root / 'DEVELOPING.md').read_text().replace('](README.md)', '](index.md)'))
    mods = api_modules(root)
    for m in mods:
        (src / 'api' / f'{m}.md').write_text(f'# cmadepth.{m}\n\n::: cmadepth.{m}\n')
    (src / 'api' / 'index.md').write_text(_listing(
        'API reference', 'Every module of the library, generated from the notebooks (`nbdev_export`).',
        [f'[cmadepth.{m}]({m}.md)' for m in mods]))
    scripts = write_assets(src)
    # navigation
    nb_entry = lambda p: {notebook_title(p): f'nbs/{p.name}'}
    nav = [{'Home': 'index.md'}]
    for title, nums in SECTIONS:
        items = [nb_entry(p) for p in lib if int(re.match(r'\d+', p.name).group()) in nums]
        if items: nav.append({title: items})
    nav.append({'Experiment notebooks': [nb_entry(p) for p in exp]})
    nav.append({'Results': [{'Overview': 'results/index.md'}] + [{notebook_title_md(t): f'results/{t.name}'} for t in tables]
                + [{'Run records': 'results/runs/index.md'}, {'Executed notebooks': 'results/executed/index.md'}]
                + [{executed_titles[e.name]: f'results/executed/{e.name}'} for e in executed]})
    nav.append({'API reference': [{'Modules': 'api/index.md'}] + [{f'cmadepth.{m}': f'api/{m}.md'} for m in mods]})
    nav.append({'Developing': 'developing.md'})
    cfg = {
        'site_name': 'cmadepth', 'site_description': 'FSRE-Depth (ICCV 2021) as nbdev notebooks',
        'docs_dir': 'src', 'site_dir': 'site', 'use_directory_urls': False, 'strict': True,
        'theme': {'name': 'material', 'font': False,
                  'features': ['navigation.sections', 'navigation.top', 'search.highlight', 'content.code.copy'],
                  'palette': {'primary': 'indigo'}},
        'markdown_extensions': ['tables', 'admonition', 'toc', 'pymdownx.superfences', {'pymdownx.arithmatex': {'generic': True}}],
        'extra_javascript': scripts, 'extra_css': ['assets/extra.css'],
        'plugins': ['search',
                    {'mkdocs-jupyter': {'execute': False, 'include_source': True, 'ignore_h1_titles': False,
                                        'remove_tag_config': {'remove_input_tags': ['hide-input']},   # e.g. drawing code
                                        'cache': True, 'cache_dir': str(out / 'cache' / 'html')}},
                    {'mkdocstrings': {'default_handler': 'python', 'handlers': {'python': {
                        'paths': [str(root)], 'options': {'show_source': False, 'show_root_heading': False, 'show_if_no_docstring': True,
                                                          'members_order': 'source', 'docstring_style': None,
                                                          'show_signature_annotations': True}}}}}],
        'validation': {'links': {'not_found': 'warn', 'anchors': 'warn', 'absolute_links': 'warn', 'unrecognized_links': 'warn'}},
        'nav': nav,
    }
    (out / 'mkdocs.yml').write_text(json.dumps(cfg, indent=1, ensure_ascii=False))   # JSON is YAML
    return {'nav': nav, 'executed': status, 'modules': mods, 'notebooks': [p.name for p in lib + exp],
            'results_notebooks': [e.name for e in executed], 'tables': [t.name for t in tables]}


def notebook_title_md(path:Path)->str:
    m = re.search(r'^#\s+(.+)$', path.read_text(), re.M)
    return m.group(1).strip() if m else path.stem


# ---------------------------------------------------------------------------------------------- notebook TOCs
def _markdown_headings(page:str)->list:
    "Ids of the headings of a rendered notebook's markdown cells (not of its outputs), with their levels, in order."
    starts = [(m.start(), 'jp-MarkdownCell' in m.group(0)) for m in re.finditer(r'<div class="jp-Cell [^"]*"', page)]
    out = []
    for m in re.finditer(r'<h([1-6]) id="([^"]+)"', page):
        cell = [md for pos, md in starts if pos < m.start()]
        if cell and cell[-1]: out.append((int(m.group(1)), m.group(2)))
    return out


def fix_notebook_tocs(site:Path, pages)->int:
    r"""mkdocs-jupyter builds a notebook page's table of contents from its own slugs of the headings, which differ from
    the ids nbconvert gives them whenever a heading holds code or maths (`## \`compute_losses\`` → '#_1' against
    'compute_losses'). Point each TOC link at its heading, matched by position; returns the number of links fixed."""
    fixed = 0
    for f in pages:
        page = f.read_text()
        heads = _markdown_headings(page)
        if heads and heads[0][0] == 1:                       # material shows the children of the page's h1 only
            nxt = next((k for k in range(1, len(heads)) if heads[k][0] == 1), len(heads))
            heads = heads[1:nxt]
        ids = [h for _, h in heads]
        toc = list(dict.fromkeys(re.findall(r'<a href="#([^"]*)" class="md-nav__link">', page)))
        if len(toc) != len(ids): continue
        for t, h in zip(toc, ids):
            if t != h:
                page = page.replace(f'<a href="#{t}" class="md-nav__link">', f'<a href="#{h}" class="md-nav__link">'); fixed += 1
        f.write_text(page)
    return fixed


_NBCONVERT_MATHJAX = re.compile(r'<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->', re.S)


def drop_nbconvert_mathjax(pages)->int:
    """nbconvert's template puts a MathJax 2 loader in every notebook page (`<script src="…">` with the plugin's
    `custom_mathjax_url`, empty by default, and a MathJax 2 configuration); the site loads MathJax 3 itself on every
    page (`write_assets`), so the block is removed. Returns the number of pages changed."""
    n = 0
    for f in pages:
        page = f.read_text(); new = _NBCONVERT_MATHJAX.sub('', page)
        if new != page: f.write_text(new); n += 1
    return n


def mark_data_tables(pages)->int:
    "Wrap the tables of the results pages in `<div class=\"data-table\">` (EXTRA_CSS keeps their rows on one line); returns the count."
    n = 0
    for f in pages:
        page = f.read_text()
        new, k = re.subn(r'<table>(.*?)</table>', r'<div class="data-table"><table>\1</table></div>', page, flags=re.S)
        if k: f.write_text(new); n += k
    return n


# ---------------------------------------------------------------------------------------------- link check
class _Links(html.parser.HTMLParser):
    def __init__(self): super().__init__(); self.links, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        for k in ('href', 'src'):
            if a.get(k) and not (tag == 'link' and a.get('rel') == 'canonical'): self.links.append(a[k])


def check_links(site:Path)->list:
    "Broken internal links and images of the built site: [(page, link, why)]."
    pages, bad = {}, []
    for f in site.rglob('*.html'):
        if f.name == '404.html' and f.parent == site: continue    # links from the site root (no site_url is known)
        p = _Links(); p.feed(f.read_text(errors='replace')); pages[f.resolve()] = p
    for f, p in pages.items():
        for link in p.links:
            u = urlsplit(link)
            if u.scheme or u.netloc or link.startswith(('mailto:', 'javascript:', 'data:')): continue
            target = f if not u.path else (f.parent / unquote(u.path)).resolve()
            if u.path.endswith('/') or target.is_dir(): target = target / 'index.html'
            if not target.exists(): bad.append((str(f.relative_to(site.resolve())), link, 'missing')); continue
            if u.fragment and target.suffix == '.html' and target in pages and unquote(u.fragment) not in pages[target].ids:
                bad.append((str(f.relative_to(site.resolve())), link, 'no such anchor'))
    return bad


def build(out:Path, execute='cheap', root:Path=ROOT, say=print)->dict:
    "Stage, `mkdocs build --strict`, check links; raises SystemExit with the reason on failure."
    out = Path(out).resolve(); out.mkdir(parents=True, exist_ok=True)
    info = stage(out, execute, root, say)
    site = out / 'site'
    if site.exists(): shutil.rmtree(site)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')])}
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-q', '-f', str(out / 'mkdocs.yml')],
                       cwd=out, capture_output=True, text=True, env=env)
    if r.returncode: raise SystemExit(f"mkdocs build --strict failed:\n{r.stdout}{r.stderr}")
    nb_pages = ([site / 'nbs' / n.replace('.ipynb', '.html') for n in info['notebooks']]
                + [site / 'results' / 'executed' / n.replace('.ipynb', '.html') for n in info['results_notebooks']])
    say(f"  notebook TOC links pointed at their headings: {fix_notebook_tocs(site, nb_pages)}")
    drop_nbconvert_mathjax(nb_pages)
    mark_data_tables([site / 'results' / t.replace('.md', '.html') for t in info['tables']])
    bad = check_links(site)
    if bad: raise SystemExit('broken internal links:\n' + '\n'.join(f'  {p}: {l} ({w})' for p, l, w in bad))
    info['site'] = site
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(prog='build_docs', description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT / '_docs'), help='build folder (default _docs/): src/, site/, cache/')
    ap.add_argument('--execute', default='cheap',
                    help="which library notebooks to execute before rendering: cheap (default), all, none, or names a,b")
    ap.add_argument('--readme', action='store_true', help='only write README.md from nbs/index.ipynb (no site)')
    ap.add_argument('--index-from-readme', action='store_true',
                    help="rewrite nbs/index.ipynb's cells from a hand-edited README.md (then run --readme)")
    ap.add_argument('--store-figures', nargs='+', metavar='NOTEBOOK',
                    help='run these notebooks (as the tests do) and store the outputs of their figure cells in them')
    a = ap.parse_args(argv)
    if a.store_figures:
        for nb in a.store_figures: store_figures(Path(nb))
        return
    if a.index_from_readme:
        index_from_readme(); print(f"wrote {INDEX} from README.md"); return
    if a.readme:
        print('README.md ' + ('written from' if write_readme() else 'already equals') + f' {INDEX}'); return
    try: import mkdocs, mkdocs_jupyter, mkdocstrings, material   # noqa: F401  (the [docs] extra)
    except ImportError as e:
        raise SystemExit(f"build_docs: {e.name} is not installed: pip install -e \".[docs]\" (make setup does)")
    mathjax_source()                                                # the [docs] extra's MathJax, before the slow part
    t = time.perf_counter()
    info = build(Path(a.out), a.execute)
    print(f"docs: {len(info['notebooks'])} notebook pages, {len(info['modules'])} API pages, {len(info['tables'])} tables, "
          f"{len(info['results_notebooks'])} executed notebooks → {info['site'] / 'index.html'} ({time.perf_counter() - t:.0f} s)")


if __name__ == '__main__':
    main()
