"""Which modules a ``postdesk`` command has loaded when it exits, run as a user runs it.

Start-up time is mostly import time, and timing tests are noisy on shared machines; the set of
modules a command loaded is not. Tests assert heavy libraries stay out of commands that need none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Runs the command, then reports every loaded module when the process exits.
RUN_COMMAND = """
import atexit, json, os, sys
def report():
    with open(os.environ["MODULES_REPORT"], "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(report)
from postdesk.cli import main
sys.exit(main(sys.argv[1:]))
"""


def loaded_by(
    argv: Sequence[str], folder: Path, *, exit_codes: Sequence[int] = (0,)
) -> tuple[set[str], str]:
    """The modules loaded when ``postdesk ARGV`` exits, and what it printed on stdout."""
    report = folder / "modules.json"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", RUN_COMMAND, *argv],
        env={**os.environ, "MODULES_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode in exit_codes, done.stderr
    return set(json.loads(report.read_text())), done.stdout


def heavy(modules: set[str], names: Sequence[str]) -> list[str]:
    """The packages of ``names`` present in ``modules`` (a package counts with any submodule)."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))
