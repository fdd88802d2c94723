"""Check that ledgerlearn's imports run one way: no import circle, no import from a lower layer
to a higher one. ``./dev check-structure`` runs it (and ``./dev test``, hence ``.ci/run``).

Every ``import`` and ``from ... import`` of every module under ``src/ledgerlearn`` counts,
those inside functions (lazy imports) too; only imports under ``if TYPE_CHECKING:`` are
exempt (they never run). ``from package import name`` counts as an import of the module
``package.name`` when that module exists, else of ``package``.

A module belongs to the layer of the longest entry of :data:`LAYERS` that prefixes its name.
A module may import modules of its own layer or of any layer listed before it; a module
importing a package's ``__init__`` also depends on that ``__init__``, which is checked like any
other module. The layer order is written down here once; ``docs/architecture.md`` draws it.

Usage: ``python dev_tools/check_structure.py [SRC_DIR]`` (default: ``src`` next to this
folder). Exit status 0 when the tree is clean, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import ast
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

#: Lowest first. Each entry is a package or module; entries in one tuple form one layer (they
#: may import each other, but never circularly). ``cli`` at the top imports everything.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ledgerlearn.identity",),
    ("ledgerlearn.storage",),
    ("ledgerlearn.learning",),
    # the ledger, in the order of Fabric's flow as far as the code depends on it
    ("ledgerlearn.ledger.errors", "ledgerlearn.ledger.framing"),
    ("ledgerlearn.ledger.protoutil",),
    ("ledgerlearn.ledger.config",),
    ("ledgerlearn.ledger.store",),
    ("ledgerlearn.ledger.endorse",),
    ("ledgerlearn.ledger.order",),
    ("ledgerlearn.ledger.validate",),
    ("ledgerlearn.ledger.client_api",),
    ("ledgerlearn.ledger.peer",),
    ("ledgerlearn.ledger.audit",),
    ("ledgerlearn.ledger.network",),
    ("ledgerlearn.ledger",),  # its package docstring, cli.py and demo.py: the ledger's tools
    ("ledgerlearn.contract",),
    ("ledgerlearn.fabric",),
    ("ledgerlearn.roles",),
    ("ledgerlearn.attacks",),
    ("ledgerlearn.scenario",),  # the in-process end-to-end scenario: agents, attacks, ledger
    ("ledgerlearn.gateway.errors", "ledgerlearn.gateway.client"),
    # a participant talks to the ledger through a client, never through the service
    ("ledgerlearn.participants.node", "ledgerlearn.participants.peering"),
    ("ledgerlearn.gateway.service",),
    ("ledgerlearn.gateway",),
    ("ledgerlearn.participants",),  # the distributed demo: starts the service and participants
    ("ledgerlearn.protocols.config", "ledgerlearn.protocols.metrics"),
    ("ledgerlearn.protocols",),
    ("ledgerlearn.experiments",),
    ("ledgerlearn.explorer",),  # reads the run directories that experiments write
    ("ledgerlearn.demo",),
    ("ledgerlearn.cli", "ledgerlearn"),
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module
    line: int


def module_names(src: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module and package under ``src/ledgerlearn``."""
    names = {}
    for path in sorted((src / "ledgerlearn").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Import statements anywhere in the tree, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _type_checking_only(node):
            children = node.orelse
        stack.extend(children)


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = []
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                targets.append(candidate if candidate in known else base)
        for target in targets:
            if target == "ledgerlearn" or target.startswith("ledgerlearn."):
                # `import a.b.c` runs a, a.b and a.b.c: the innermost known module stands for it
                while target not in known and "." in target:
                    target = target.rpartition(".")[0]
                if target != module:
                    found.append(Import(module, target, node.lineno))
    return found


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and len(entry) > best_len:
                best, best_len = index, len(entry)
    return best


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
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
                    components.append(_cycle_through(sorted(component), edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def _cycle_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete cycle inside a strongly connected component, to name in the message."""
    members = set(component)
    start = component[0]
    previous = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges.get(node, ())):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, start]
            if child in members and child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def check(src: Path) -> list[str]:
    known = module_names(src)
    problems = []
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], int] = {}
    for module, path in known.items():
        if layer_of(module) is None:
            problems.append(f"{module}: in no layer; add its package to LAYERS in {__file__}")
        for imp in dict.fromkeys(imports_of(module, path, known)):
            edges.setdefault(imp.source, set()).add(imp.target)
            lines.setdefault((imp.source, imp.target), imp.line)
            low, high = layer_of(imp.source), layer_of(imp.target)
            if low is not None and high is not None and high > low:
                problems.append(
                    f"{known[module].relative_to(src)}:{imp.line}: upward import: {imp.source} "
                    f"(layer {', '.join(LAYERS[low])}) imports {imp.target} (layer "
                    f"{', '.join(LAYERS[high])}, higher); move the shared code down or pass "
                    "it in"
                )
    for cycle in find_cycles(edges):
        steps = " -> ".join(cycle)
        where = ", ".join(
            f"{known[a].relative_to(src)}:{lines[(a, b)]}" for a, b in itertools.pairwise(cycle)
        )
        problems.append(f"import circle: {steps} (at {where})")
    return problems


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "src"
    problems = check(src)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-structure: {len(problems)} problem(s) in {src}", file=sys.stderr)
        return 1
    print(f"check-structure: {len(module_names(src))} modules, no circle, no upward import")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
