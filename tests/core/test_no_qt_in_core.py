"""postdesk.core works without a display: no module in it imports Qt, directly or indirectly."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import postdesk.core

CORE = Path(postdesk.core.__file__).parent
SRC = CORE.parents[1]
QT_MODULES = ("PySide6", "shiboken6", "qasync", "PyQt5", "PyQt6")

IMPORT_ALL_CORE = """
import importlib, pkgutil, sys
import postdesk.core
for info in pkgutil.walk_packages(postdesk.core.__path__, "postdesk.core."):
    # Alembic migration scripts run only inside Alembic; importing them alone fails.
    if ".migrations" not in info.name:
        importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {qt!r})
print(",".join(loaded))
"""


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names += [a.value for a in node.args if isinstance(a, ast.Constant)]
    return names


def test_core_sources_do_not_import_qt() -> None:
    sources = sorted(CORE.rglob("*.py"))
    assert sources, "the core package has modules"
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sources
        for name in imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if name.split(".")[0] in QT_MODULES
    ]
    assert offenders == []


def test_importing_every_core_module_loads_no_qt() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_CORE.format(qt=set(QT_MODULES))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core pulled in Qt: {result.stdout.strip()}"
