"""``postdesk`` as a user runs it: a whole process, its output and exit status."""

from __future__ import annotations

import os
import subprocess
import sys


def postdesk(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one command in its own process, with this test's environment (its workspace)."""
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(*args: str) -> str:
    """Run a command that must succeed, without a traceback; its standard output."""
    done = postdesk(*args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    return done.stdout
