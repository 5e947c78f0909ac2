"""Running coroutines from Qt slots without blocking the window.

- :func:`start_task` runs a coroutine as a task, keeps a reference until it ends, sends a
  ``UserError`` to the page banner and any other failure to the global exception dialog.
- :func:`task_slot` turns an ``async def`` page method into a slot for a signal.
- :func:`busy` disables a button and shows an inline status while work is running.
- :func:`with_wait_dialog` shows a wait dialog with Cancel for long work.
- :func:`run_blocking` runs a blocking call (keyring, D-Bus) off the GUI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from PySide6.QtWidgets import QAbstractButton, QLabel, QProgressDialog, QWidget

from postdesk.core.errors import UserError
from postdesk.gui.errors import show_user_error
from postdesk.gui.widgets.banner import Banner

T = TypeVar("T")

# Quick work finishes before a wait dialog would appear, so it never flashes on screen.
WAIT_DIALOG_DELAY_S = 0.4

# asyncio holds only weak references to tasks; these keep running work alive until it ends.
_running: set[asyncio.Task[Any]] = set()


def start_task(coro: Coroutine[Any, Any, T], *, banner: Banner | None = None) -> asyncio.Task[T]:
    """Run ``coro`` on the GUI's event loop; its failures are shown, never lost."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(functools.partial(_task_done, banner))
    return task


def running_tasks() -> frozenset[asyncio.Task[Any]]:
    """The tasks started with :func:`start_task` that have not finished yet."""
    return frozenset(_running)


def _task_done(banner: Banner | None, task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if error is None:
        return
    if isinstance(error, UserError) and banner is not None:
        show_user_error(banner, error)
        return
    sys.excepthook(type(error), error, error.__traceback__)


def task_slot(
    method: Callable[[Any], Coroutine[Any, Any, object]],
) -> Callable[..., asyncio.Task[object]]:
    """Make ``async def method(self)`` a slot; a UserError goes to ``self.banner``."""

    @functools.wraps(method)
    def slot(self: Any, *_signal_args: object) -> asyncio.Task[object]:
        # Signal arguments (such as ``clicked``'s checked flag) are dropped on purpose.
        return start_task(method(self), banner=getattr(self, "banner", None))

    return slot


@contextlib.contextmanager
def busy(button: QAbstractButton, status: QLabel | None = None, text: str = "") -> Iterator[None]:
    """Disable ``button`` and show ``text`` in ``status`` until the block ends, however it ends."""
    button.setEnabled(False)
    if status is not None:
        status.setText(text)
        status.show()
    try:
        yield
    finally:
        button.setEnabled(True)
        if status is not None:
            status.clear()


async def with_wait_dialog(parent: QWidget, text: str, work: Awaitable[T]) -> T:
    """Await ``work`` behind a wait dialog whose Cancel cancels it.

    The dialog is opened with ``open()``, never ``exec()``: a nested event loop inside a coroutine
    would stall every other task. Cancelling raises ``asyncio.CancelledError`` in the caller.
    """
    task = asyncio.ensure_future(work)
    done, _pending = await asyncio.wait({task}, timeout=WAIT_DIALOG_DELAY_S)
    if done:
        return task.result()
    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setWindowTitle("Please wait")
    dialog.setMinimumDuration(0)
    dialog.canceled.connect(task.cancel)
    dialog.open()
    try:
        return await task
    finally:
        dialog.canceled.disconnect(task.cancel)
        dialog.close()
        dialog.deleteLater()


async def run_blocking(fn: Callable[[], T]) -> T:
    """Run a blocking call in a daemon thread and await its result.

    A daemon thread, not the loop's executor: a keyring call stuck on D-Bus must not keep
    Postdesk from quitting, and executors are joined on exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the awaiting task was cancelled meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def deliver(result: T | None, error: BaseException | None) -> None:
        # A closed loop means Postdesk is quitting and nobody waits for the answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    def work() -> None:
        try:
            result = fn()
        except BaseException as error:
            deliver(None, error)
        else:
            deliver(result, None)

    threading.Thread(target=work, name="postdesk-blocking", daemon=True).start()
    return await future
