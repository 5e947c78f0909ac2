"""Interpreters as users have them, for the whole-process benchmarks.

A development venv is not what a user runs: Postdesk is installed there in editable mode, whose
import hook (with ``pathlib``, ``importlib.util`` and ``fnmatch``) loads at every interpreter
start, before any of Postdesk's own code, and the test tools sit beside it. A user has Postdesk
installed from its package, alone (``pip install postdesk``), and a peer tool in a venv of its
own. :func:`project_python` gives such a venv's interpreter (created once, the project
reinstalled whenever its source changed), :func:`peer_python` one for a peer package.

The venvs live under ``$POSTDESK_BENCH_VENVS`` (default ``~/.cache/postdesk-bench``). Creating
the first one takes a few minutes (pip installs every dependency, from its cache when it can).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "src", "resources")


def _home() -> Path:
    default = Path.home() / ".cache" / "postdesk-bench"
    return Path(os.environ.get("POSTDESK_BENCH_VENVS", default))


def _python(directory: Path) -> Path:
    return directory / "bin" / "python"


def _create(directory: Path) -> Path:
    if not _python(directory).exists():
        print(f"creating a venv in {directory} (once)", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    return _python(directory)


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
    )


def source_digest(root: Path = ROOT) -> str:
    """A digest of what an install of the project copies (its package data included)."""
    digest = hashlib.sha256()
    for name in SOURCES:
        path = root / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def project_python(root: Path = ROOT) -> str:
    """A venv with this project installed from its package (not editable), nothing else."""
    directory = _home() / "postdesk"
    stamp = directory / "installed-source"
    wanted = source_digest(root)
    fresh = not _python(directory).exists()
    python = _create(directory)
    if fresh:
        _pip(python, str(root))
    elif not stamp.exists() or stamp.read_text() != wanted:
        _pip(python, "--no-deps", "--force-reinstall", str(root))
    stamp.write_text(wanted)
    return str(python)


def peer_python(package: str) -> str:
    """A venv with one peer package (a pip requirement, e.g. ``checkdmarc==6.0.4``) alone."""
    name = hashlib.sha256(package.encode()).hexdigest()[:12]
    directory = _home() / f"peer-{name}"
    done = directory / "installed"
    python = _create(directory)
    if not done.exists():
        _pip(python, package)
        done.write_text(package)
    return str(python)
