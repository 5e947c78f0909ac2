"""Running a command that is over in a fraction of a second without the cycle collector.

Such a command creates little garbage, yet the collector would pass dozens of times over the
objects its imports create, and once more over all of them as the process exits — around a
tenth of the command's time, to free a few hundred objects. So the collector is off while the
command runs, and what exists when it ends is frozen (never looked at again, the last pass
included); a caller that goes on (tests run commands in their own process) collects what it
makes afterwards as before.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_briefly(work: Callable[[], T]) -> T:
    """``work()`` with the cycle collector paused, then the survivors frozen."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
