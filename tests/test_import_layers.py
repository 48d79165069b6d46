"""The package's own import graph: imports point down the layers, never into ``tools/``, no cycles.

Layers, lowest first (``mmpeft/__init__.py`` documents them): ``compat`` -> ``registry`` ->
``checkpoint`` -> ``datasets`` -> ``models.utils`` -> ``models.peft`` -> ``models.backbones`` ->
``models.necks`` -> ``models.rotated`` -> ``evaluation`` -> ``engine`` -> ``apis``; ``testing``
stands apart (it imports no other mmpeft layer and none imports it).
"""
import ast
import os.path as osp
from glob import glob
from typing import Dict, List, Set

from e2e_utils import REPO

PACKAGE = osp.join(REPO, 'mmpeft')
LAYERS = ['mmpeft.compat', 'mmpeft.registry', 'mmpeft.checkpoint', 'mmpeft.datasets',
          'mmpeft.models.utils', 'mmpeft.models.peft', 'mmpeft.models.backbones',
          'mmpeft.models.necks', 'mmpeft.models.rotated', 'mmpeft.evaluation', 'mmpeft.engine',
          'mmpeft.apis']
APART = ['mmpeft.testing']


def module_name(path: str) -> str:
    rel = osp.relpath(path, REPO)[:-len('.py')].replace(osp.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def import_graph() -> Dict[str, Set[str]]:
    """``{module: {imported mmpeft modules and top-level names}}`` from the source (ast)."""
    graph: Dict[str, Set[str]] = {}
    modules = {module_name(p): p for p in glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)}
    for name, path in modules.items():
        is_pkg = path.endswith('__init__.py')
        package = name if is_pkg else name.rsplit('.', 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split('.')
                    base = base[:len(base) - node.level + 1]
                    mod = '.'.join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module
                subs = {f'{mod}.{a.name}' for a in node.names} & set(modules)
                targets |= subs  # "from pkg import submodule"
                if node.module or len(subs) < len(node.names):
                    targets.add(mod)
        graph[name] = targets
    return graph


def layer_of(module: str) -> str:
    for layer in APART + LAYERS:
        if module == layer or module.startswith(layer + '.'):
            return layer
    return module  # mmpeft itself, mmpeft.models (packages above the layers)


def test_every_module_is_in_a_layer():
    above = {'mmpeft', 'mmpeft.models'}
    assert {m for m in import_graph() if layer_of(m) not in LAYERS + APART} <= above


def layer_violations(graph: Dict[str, Set[str]]) -> List[str]:
    """Imports that point up the layers, into ``tools/`` or across ``testing``."""
    wrong: List[str] = []
    for mod, targets in graph.items():
        src = layer_of(mod)
        for t in targets:
            if not t or not t.startswith('mmpeft'):
                if t and (t == 'tools' or t.startswith('tools.') or t == 'runner_utils'):
                    wrong.append(f'{mod} imports {t} (tools/ is never imported by the package)')
                continue
            dst = layer_of(t)
            if dst == src or src in ('mmpeft', 'mmpeft.models'):
                continue
            if dst in ('mmpeft', 'mmpeft.models'):
                wrong.append(f'{mod} imports the package {t} (import the layer instead)')
            elif src in APART or dst in APART:
                wrong.append(f'{mod} ({src}) imports {t} ({dst}): testing stands apart')
            elif LAYERS.index(dst) > LAYERS.index(src):
                wrong.append(f'{mod} ({src}) imports {t} ({dst}), a higher layer')
    return wrong


def test_imports_point_down_the_layers():
    wrong = layer_violations(import_graph())
    assert not wrong, '\n'.join(wrong)


def test_no_import_cycles():
    graph = import_graph()
    edges = {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}
    # a package's __init__ importing its own submodules is how packages work: not a cycle
    for m in edges:
        edges[m] = {t for t in edges[m] if not t.startswith(m + '.')}
    state: Dict[str, int] = {}
    cycle: List[str] = []

    def visit(node: str, path: List[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [node, nxt] if nxt in path else
                             [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(edges):
        if state.get(node) is None and visit(node, []):
            break
    assert not cycle, ' -> '.join(cycle)


def test_the_checker_sees_a_violation():
    """The rule can fail: models importing engine, engine importing apis, or anything importing
    tools/, is reported."""
    graph = import_graph()
    graph['mmpeft.models.peft.mona'] = graph['mmpeft.models.peft.mona'] | {'mmpeft.engine'}
    graph['mmpeft.engine.checkpoint'] = graph['mmpeft.engine.checkpoint'] | {'runner_utils'}
    graph['mmpeft.engine.runner'] = graph['mmpeft.engine.runner'] | {'mmpeft.apis.inference'}
    wrong = layer_violations(graph)
    assert len(wrong) == 3, wrong
    assert any('mmpeft.models.peft.mona (mmpeft.models.peft) imports mmpeft.engine' in w
               for w in wrong)
    assert any('mmpeft.engine.runner (mmpeft.engine) imports mmpeft.apis.inference' in w
               for w in wrong)
