"""Helpers for GUI tests: run a coroutine on a real qasync loop, find visible dialogs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

# One qasync loop for the whole test session, as in the app: closing a qasync loop while Qt
# still holds socket notifiers or timers of it (left by widgets a test created) crashes a
# later test's event processing.
_loop: Any = None


def qt_loop(qapp: Any) -> asyncio.AbstractEventLoop:
    """The session's qasync loop (made on first use)."""
    global _loop
    if _loop is None or _loop.is_closed():
        import qasync

        _loop = qasync.QEventLoop(qapp, already_running=False)
    return _loop


def run_on_qt_loop(qapp: Any, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on the qasync loop, so Qt events are processed while it waits."""
    loop = qt_loop(qapp)
    try:
        return loop.run_until_complete(coro)
    finally:
        _drain(loop)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Finish what the test left running, so nothing of it runs during the next test."""
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


@pytest.fixture(scope="session", autouse=True)
def _close_qt_loop_at_the_end() -> Any:
    """Close the session's qasync loop (and its executor thread) after the last test."""
    yield
    global _loop
    if _loop is not None and not _loop.is_closed():
        _loop.close()
    _loop = None
