"""The package's import graph keeps its layers: nothing imports upwards, nothing imports in a loop.

Read from the source with ``ast`` (every import statement, including the ones inside functions, since a
lazy import is still a dependency; only ``if TYPE_CHECKING:`` blocks are left out, they never run).  The
layers are the ones ``docs/architecture.md`` draws; a module may import from its own layer or below.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connector"

#: Bottom to top.  A name stands for the module and everything below it (``connector.sinks`` = the package).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("records", "batching", "schedule", "numbers", "safe_output", "config_safety", "memory",
     "garbage"),
    ("config", "secrets", "logging", "http", "observe", "mappings", "registry"),
    ("store", "clients", "identity", "identity_overrides", "settled"),
    ("sources", "sinks", "scoring"),
    ("sync", "incremental", "runtime", "render", "report", "quarantine", "status", "probes", "field_access",
     "preflight", "progress", "backtest"),
    ("daemon", "cli", "demo", "demo_calls", "demo_view", "sandbox", "__main__"),
)
#: Pieces of one layer that must not know each other: a sink writes what scoring decided, it never reads
#: a source (what it needs from a vendor's API lives in that vendor's client).
APART = (("sinks", "sources"), ("sources", "sinks"))


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules ``path`` imports (``from pkg import module`` counts as the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                   ast.unparse(node.test) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known.keys()
            found.update(subs if len(subs) == len(node.names) else {node.module, *subs})
    return {name for name in found if name in known and name != "connector"}


def graph() -> dict[str, set[str]]:
    known = module_names()
    edges = {name: imports(path, known) for name, path in known.items()}
    # importing a submodule runs its package first: that edge is implied, never a loop of its own
    return {m: {d for d in deps if d != m and not m.startswith(d + ".")} for m, deps in edges.items()}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if top(module) in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    edges = graph()
    upward = sorted(f"{m} -> {d}" for m, deps in edges.items() for d in deps if layer(d) > layer(m))
    assert upward == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_sinks_and_sources_do_not_import_each_other() -> None:
    edges = graph()
    crossing = sorted(f"{m} -> {d}" for m, deps in edges.items() for d in deps
                      for a, b in APART if top(m) == a and top(d) == b)
    assert crossing == []


def test_the_checks_catch_what_they_look_for() -> None:
    """The detector itself: an upward edge, a loop and a sink reading a source are all reported."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("connector.config") < layer("connector.daemon.scheduler")
    assert top("connector.sinks.salesforce") == "sinks" and ("sinks", "sources") in APART
