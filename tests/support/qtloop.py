"""Helpers for GUI tests: run a coroutine on a real qasync loop, find visible dialogs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest


def run_on_qt_loop(qapp: Any, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on a qasync loop, so Qt events are processed while it waits."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    try:
        return loop.run_until_complete(coro)
    finally:
        _drain(loop)
        loop.close()


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Finish what the test left running before the loop closes.

    Callbacks of a cancelled connection that fire after their loop was closed crash the next
    test's event processing, so leftover tasks are cancelled and given a moment to unwind.
    """
    leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0.05))


def dialogs_of(kind: type) -> list[Any]:
    """The visible top-level widgets of one kind (QMessageBox, a Postdesk dialog, …)."""
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


async def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition()`` on the running loop until it is true (fails the test on timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {getattr(condition, '__name__', 'condition')}")
        await asyncio.sleep(0.01)
