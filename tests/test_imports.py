"""fastl2's import graph keeps the layers of docs/architecture.md, read from the source.

Every module under ``fastl2/`` is parsed (``ast``; nothing is imported or run) and three
rules are checked:

1. **No import cycle** between modules, counting module-level *and* function-level imports
   (a function-level import only hides a cycle from Python, not from this test). A cycle is
   reported as the list of its modules, first one repeated at the end.
2. **No upward import**: a module imports only from its own layer or the layers below it, in
   :data:`LAYERS` (lowest first). A module is in the layer of the longest entry that is it or
   one of its packages; every module must be in one.
3. **Every function-level import says why it is deferred**, by a comment with the marker
   ``deferred:`` and the reason, on one of its lines or on the line just above it (for a run
   of consecutive imports, the line above the run covers the run)::

       from ..evaluation import rmse  # deferred: CLI start-up

       try:  # deferred: optional dependency (pyarrow)
           import pyarrow as pa

   The reasons that justify one: the start-up time of ``import fastl2`` or of the command
   line, an optional dependency. Hiding an import cycle is not one (rule 1).

How an import statement becomes edges of the graph:

- Imports under ``if TYPE_CHECKING:`` are skipped (they never run). Relative imports are
  resolved against the importing module's package; absolute ones count when they name
  ``fastl2``.
- ``from P import x`` imports the submodule ``P.x`` when ``x`` is a module or package of
  ``P``, else the name ``x`` of ``P``'s ``__init__``. Importing a package means importing its
  ``__init__`` (the node named after the package), and Python imports every package on the
  way: ``from fastl2.training import als`` in ``fastl2.models.biased_mf`` is an edge to
  ``fastl2.training`` (whose ``__init__`` runs) and one to ``fastl2.training.als``.
- **Parent packages.** Python runs a package's ``__init__`` before any of its submodules, so
  a module's own ancestor packages are already being imported when it runs. A submodule
  importing a sibling (``from . import als``, ``from .base import Estimator``) therefore adds
  no edge to the parent ``__init__``, and a package ``__init__`` re-exporting its submodules
  (``fastl2/models/__init__.py`` importing ``.biased_mf``) is an edge from the package to
  them, never a cycle through it. Only a use of an ancestor's *own* names (``from .. import
  __version__``) is an edge to that ancestor's ``__init__``.
- **The façade.** ``fastl2/__init__.py`` (the node ``fastl2``) re-exports the public names and
  may import any layer but the command line's. It has its own layer just below ``fastl2.cli``,
  so no module inside fastl2 but the command line imports names from it: each imports from
  the module that defines them (``fastl2.cli`` takes ``__version__`` from it).
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastl2"

#: The layers, lowest first (docs/architecture.md). A module may import from its own layer
#: and those below it.
LAYERS: list[tuple[str, ...]] = [
    ("fastl2.errors", "fastl2._threads", "fastl2._kernels", "fastl2._reference"),
    ("fastl2._validation",),
    ("fastl2._idmap",),
    ("fastl2.interactions",),
    ("fastl2.persistence",),
    ("fastl2.training",),
    ("fastl2.models",),
    ("fastl2.datasets",),
    ("fastl2.evaluation",),
    ("fastl2.compat",),
    ("fastl2.distributed",),
    ("fastl2._warmup",),
    ("fastl2.bench",),
    ("fastl2",),  # the façade, fastl2/__init__.py alone (see the module docstring)
    ("fastl2.cli",),
]

DEFERRED = re.compile(r"#.*\bdeferred:")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (a package stands for its __init__)
    path: str  # file of the import, relative to the repository
    line: int
    function_level: bool


def _module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST):
    """(node, function_level) for every import statement outside ``if TYPE_CHECKING:``."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:  # the else branch does run
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    yield from walk(tree, False)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict[str, Path]) -> list[str]:
    """The fastl2 modules an import statement in ``module`` imports (see the docstring)."""
    if isinstance(node, ast.Import):
        named = [alias.name for alias in node.names]
        imported = []
        for name in named:
            imported += [".".join(name.split(".")[:i + 1]) for i in range(name.count(".") + 1)]
        explicit: set[str] = set()
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            parent = ".".join(base + ([node.module] if node.module else []))
        else:
            parent = node.module or ""
        parts = parent.split(".")
        imported = [".".join(parts[:i + 1]) for i in range(len(parts))]
        names = [f"{parent}.{alias.name}" for alias in node.names]
        subs = [n for n in names if n in modules]
        imported += subs
        # names of the parent's __init__ itself (not submodules): an explicit use of it
        explicit = {parent} if len(subs) < len(names) else set()
    out = []
    for target in dict.fromkeys(imported):
        if not (target == "fastl2" or target.startswith("fastl2.")):
            continue
        ancestor = module.startswith(target + ".") or (is_package and target == module)
        if ancestor and target not in explicit:
            continue  # already being imported when ``module`` runs
        out.append(target)
    return out


def _comments(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


def _justified(node: ast.stmt, first_of_run: ast.stmt, comments: dict[int, str]) -> bool:
    lines = [*range(node.lineno, (node.end_lineno or node.lineno) + 1), node.lineno - 1,
             first_of_run.lineno - 1]
    return any(DEFERRED.search(comments.get(n, "")) for n in lines)


def _runs_start(tree: ast.AST) -> dict[int, ast.stmt]:
    """id(import node) -> the first import of the run of consecutive imports it is in."""
    start: dict[int, ast.stmt] = {}
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody", "handlers"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            first = None
            for stmt in body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    first = first or stmt
                    start[id(stmt)] = first
                else:
                    first = None
    return start


@dataclass
class Scan:
    modules: dict[str, Path]
    imports: list[Import]
    unjustified: list[str]


_SCAN: Scan | None = None


def scan() -> Scan:
    """Parse the package once per test session."""
    global _SCAN
    if _SCAN is None:
        modules = _module_names()
        imports, unjustified = [], []
        root = PACKAGE.parent
        for module, path in modules.items():
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
            comments = _comments(source)
            starts = _runs_start(tree)
            rel = str(path.relative_to(root))
            for node, in_function in _import_nodes(tree):
                for target in _targets(node, module, path.name == "__init__.py", modules):
                    imports.append(Import(module, target, rel, node.lineno, in_function))
                if in_function and not _justified(node, starts.get(id(node), node), comments):
                    unjustified.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        _SCAN = Scan(modules, imports, unjustified)
    return _SCAN


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan's algorithm, run
    iteratively), as ``[a, b, ..., a]``, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        # shortest path from start back to start inside the component (breadth first)
        previous: dict[str, str] = {}
        frontier = [start]
        while start not in previous:
            following = []
            for node in frontier:
                for child in sorted(graph.get(node, ())):
                    if child in members and child not in previous:
                        previous[child] = node
                        following.append(child)
            frontier = following
        path = [start]
        node = previous[start]
        while node != start:
            path.append(node)
            node = previous[node]
        path.append(start)
        cycles.append(path[::-1])
    return sorted(cycles)


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for number, entries in enumerate(LAYERS):
        for entry in entries:
            matches = module == entry or (entry != "fastl2" and module.startswith(entry + "."))
            if matches and len(entry) > best_len:
                best, best_len = number, len(entry)
    return best


# ------------------------------------------------------------------------------ the rules
def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for imp in scan().imports:
        graph.setdefault(imp.source, set()).add(imp.target)
    cycles = find_cycles(graph)
    where = {(i.source, i.target): f"{i.path}:{i.line}" for i in reversed(scan().imports)}
    report = [" -> ".join(c) + "  (" + ", ".join(where[(a, b)] for a, b in zip(c, c[1:])) + ")"
              for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(report)


def test_every_module_has_a_layer():
    missing = [m for m in scan().modules if layer_of(m) is None]
    assert not missing, f"modules in no layer of LAYERS (add them): {missing}"


def test_no_upward_import():
    upward = []
    for imp in scan().imports:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if src is not None and dst is not None and dst > src:
            upward.append(f"{imp.path}:{imp.line}: {imp.source} (layer {src}) imports "
                          f"{imp.target} (layer {dst})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_every_function_level_import_says_why():
    assert not scan().unjustified, (
        "function-level imports without a '# deferred: <why>' comment (start-up time or an "
        "optional dependency; else import at module level):\n" + "\n".join(scan().unjustified))


# ------------------------------------------------------------------------------ the checker
def test_find_cycles_on_synthetic_graphs():
    assert find_cycles({}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []  # a DAG
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]
    # a -> b -> c -> a, plus a tail into it and a second, separate cycle d <-> e
    graph = {"x": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["d", "e", "d"]]
    # the shortest way round a component with a chord
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}) == [["a", "c", "a"]]


def _parse(module: str, source: str, modules: tuple[str, ...] = ()) -> list[str]:
    tree = ast.parse(source)
    known = dict.fromkeys((module, *modules), Path("x.py"))
    is_package = False
    return [t for node, _ in _import_nodes(tree)
            for t in _targets(node, module, is_package, known)]


def test_import_resolution():
    mods = ("fastl2.models", "fastl2.models.base", "fastl2.training", "fastl2.training.als",
            "fastl2.persistence")
    # a sibling: no edge to the parent __init__
    assert _parse("fastl2.models.biased_mf", "from .base import Estimator", mods) == \
        ["fastl2.models.base"]
    # another package: its __init__ and the submodule
    assert _parse("fastl2.models.biased_mf", "from ..training import als", mods) == \
        ["fastl2.training", "fastl2.training.als"]
    # absolute, function level; and a name of the façade itself
    assert _parse("fastl2.cli.x", "def f():\n    import fastl2.persistence\n", mods) == \
        ["fastl2.persistence"]
    assert _parse("fastl2.cli.x", "from .. import __version__", mods) == ["fastl2"]
    # never run: skipped
    assert _parse("fastl2.cli.x", "if TYPE_CHECKING:\n    from ..models import base\n",
                  mods) == []
    assert _parse("fastl2.cli.x", "import numpy, os.path", mods) == []


def test_deferred_comment_rule():
    source = ("def f():\n"
              "    # deferred: CLI start-up\n"
              "    from a import b\n"
              "    from c import d\n"
              "    x = 1\n"
              "    from e import f\n"
              "    from g import h  # deferred: optional dependency (g)\n")
    tree = ast.parse(source)
    comments, starts = _comments(source), _runs_start(tree)
    verdict = {node.lineno: _justified(node, starts[id(node)], comments)
               for node, _ in _import_nodes(tree)}
    assert verdict == {3: True, 4: True, 6: False, 7: True}


def test_layer_table_matches_its_rules():
    assert layer_of("fastl2") == LAYERS.index(("fastl2",))
    assert layer_of("fastl2.cli.bench") == len(LAYERS) - 1
    assert layer_of("fastl2.bench.suite") == layer_of("fastl2.bench")
    assert layer_of("fastl2.models.base") > layer_of("fastl2.persistence")
    assert layer_of("fastl2.nowhere") is None


@pytest.mark.parametrize("module", ["fastl2.persistence", "fastl2.errors",
                                    "fastl2._validation"])
def test_low_modules_import_no_model(module):
    """The edges issue 20 removed stay removed (persistence fills no registry itself)."""
    targets = {i.target for i in scan().imports if i.source == module}
    assert not any(t.startswith("fastl2.models") for t in targets), targets


def test_optional_dependencies_stay_optional():
    """Without dask (the ``dask`` extra), ``fastl2.distributed``, ``fastl2.bench`` and the
    command line still import: only calling into a cluster needs it."""
    code = ("import sys\n"
            "for name in ('dask', 'distributed', 'pyarrow', 'implicit', 'surprise'):\n"
            "    sys.modules[name] = None  # import raises ImportError\n"
            "import fastl2, fastl2.bench, fastl2.distributed, fastl2.cli, fastl2.compat.implicit\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['dask', 'distributed']"  # only the blocked placeholders
