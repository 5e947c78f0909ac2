"""No two modules of ``postdesk.gui`` import each other, directly or through others.

Imports inside functions count (a late import only hides a cycle); imports under
``if TYPE_CHECKING:`` do not (they never run: type names only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import postdesk.gui

GUI = Path(postdesk.gui.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["postdesk", "gui", *path.relative_to(GUI).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _imports(path: Path, modules: set[str]) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_gui_modules_form_no_import_cycle() -> None:
    paths = {_module_name(p): p for p in GUI.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) for name, path in paths.items()}
    loops = [f"{a} -> {b} -> … -> {a}" for a in graph for b in graph[a] if _reaches(graph, b, a)]
    assert loops == []
