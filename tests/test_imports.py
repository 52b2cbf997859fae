"No import cycles among cmadepth's modules: every import is read, at module level and inside functions."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'cmadepth'
SKIP = {'__init__', '_modidx'}


def modules() -> set:
    return {p.stem for p in PKG.glob('*.py') if p.stem not in SKIP}


def imports_of(source: str, known: set) -> set:
    """The cmadepth modules `source` imports anywhere (top level, functions, `if` blocks): `from .x import`,
    `from cmadepth.x import`, `from cmadepth import x`, `from . import x`, `import cmadepth.x [as y]`."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 or mod == 'cmadepth' or mod.startswith('cmadepth.'):
                parts = mod.split('.')[1:] if node.level == 0 else ([mod.split('.')[0]] if mod else [])
                if parts: out.add(parts[0])
                else: out |= {a.name for a in node.names}          # from . import x / from cmadepth import x
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('cmadepth.')}
    return out & known


def import_graph() -> dict:
    known = modules()
    return {m: imports_of((PKG/f'{m}.py').read_text(encoding='utf-8'), known) - {m} for m in sorted(known)}


def find_cycle(graph: dict):
    "One cycle as a list of modules [a, b, ..., a], or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 'open'; stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 'open': return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = 'done'; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c
    return None


def test_parser_sees_every_form():
    src = '''
from .a import x
from cmadepth.b import y
from cmadepth import c, d
from . import e
import cmadepth.f as F
def g():
    from .h import z
    import cmadepth.i
if True:
    from cmadepth.j import w
import numpy, os
'''
    assert imports_of(src, set('abcdefghijk')) == set('abcdefhij')


def test_find_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_no_import_cycles():
    g = import_graph()
    assert len(g) > 20 and 'train' in g and 'config' in g['train']
    cycle = find_cycle(g)
    assert cycle is None, 'import cycle: ' + ' → '.join(cycle)


def test_no_lazy_module_getattr():
    "A module-level `__getattr__` that imports another cmadepth module hides an import edge from readers: none."
    for m in sorted(modules()):
        tree = ast.parse((PKG/f'{m}.py').read_text(encoding='utf-8'))
        for node in tree.body:
            assert not (isinstance(node, ast.FunctionDef) and node.name == '__getattr__'), f'cmadepth/{m}.py: module __getattr__'
