"""Short commands run without the cycle collector; whoever runs them keeps a working one."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, weakref
from postdesk.cli.brief import run_briefly

class Node:
    pass

def work(fail):
    assert not gc.isenabled()  # paused while the command runs
    if fail:
        raise ValueError("refused")
    return "done"

print(run_briefly(lambda: work(False)))
try:
    run_briefly(lambda: work(True))
except ValueError as exc:
    print(exc)
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle only the collector can free
gone = weakref.ref(a)
del a, b
gc.collect()
print(gc.isenabled(), gone() is None)
"""


def test_the_collector_is_paused_during_the_command_and_working_after_it() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "refused", "True", "True"]
