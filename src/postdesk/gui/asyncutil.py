"""Running coroutines from Qt slots without blocking the window.

- :func:`start_task` runs a coroutine as a task, keeps a reference until it ends, sends a
  ``UserError`` to the page banner and any other failure to the global exception dialog.
- :func:`async_slot` turns an ``async def`` method into a slot: the one way a button, a menu
  item or a dialog's answer starts async work. Inside it, database calls go to a thread with
  ``asyncio.to_thread`` and keyring calls with :func:`run_blocking`; none runs on the loop.
- :func:`busy` disables a button and shows an inline status while work is running.
- :func:`with_wait_dialog` shows a wait dialog with Cancel for long work.
- :func:`run_blocking` runs a blocking call (keyring, D-Bus) off the GUI thread.
- :class:`LatestRead` runs a view's read once at a time and once more when the filters changed
  while it ran, so the last thing the user asked for is always what is shown.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtWidgets import QAbstractButton, QLabel, QProgressDialog, QWidget

from postdesk.core.errors import UserError
from postdesk.gui.errors import show_user_error
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    # Imported where a coroutine starts: the window is usable before asyncio loads (app.py).
    import asyncio

T = TypeVar("T")

# Quick work finishes before a wait dialog would appear, so it never flashes on screen.
WAIT_DIALOG_DELAY_S = 0.4

# asyncio holds only weak references to tasks; these keep running work alive until it ends.
_running: set[asyncio.Task[Any]] = set()


def start_task(coro: Coroutine[Any, Any, T], *, banner: Banner | None = None) -> asyncio.Task[T]:
    """Run ``coro`` on the GUI's event loop; its failures are shown, never lost."""
    import asyncio

    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(functools.partial(_task_done, banner))
    return task


class LatestRead:
    """A view's read, run one at a time; a request made while one runs is served right after it.

    Filters change faster than a read ends (a user types a search, then picks a reason). Dropping
    the request made while a read runs would leave the table showing the older filters; running
    reads side by side would let the older one finish last. Here a request made meanwhile is
    remembered, and one more read starts when the running one ends.
    """

    def __init__(
        self,
        read: Callable[[], Coroutine[Any, Any, object]],
        *,
        banner: Banner | None = None,
        when: Callable[[], bool] = lambda: True,
    ) -> None:
        self._read = read
        self._banner = banner
        self._when = when
        self._task: asyncio.Task[None] | None = None
        self._again = False

    @property
    def running(self) -> bool:
        """True while a read runs or one more is due."""
        return self._task is not None and not self._task.done()

    def __call__(self) -> None:
        """Ask for a read: now, or right after the one that is running."""
        if not self._when():
            return
        if self.running:
            self._again = True
            return
        self._task = start_task(self._run(), banner=self._banner)

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self._read()


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


AsyncMethod = Callable[..., Coroutine[Any, Any, object]]


def async_slot(method: AsyncMethod | None = None, *, button: str | None = None) -> Any:
    """Make ``async def method(self, ...)`` a slot that starts it as a task and returns the task.

    The task is kept until it ends; the widget ``self.<button>`` (when named) is disabled until
    then, so a second click cannot start it twice; a ``UserError`` is shown in ``self.banner``,
    any other exception in the global report dialog. Signal arguments the method does not take
    (such as ``clicked``'s checked flag) are dropped. Use as ``@async_slot`` or
    ``@async_slot(button="add_button")``.
    """

    def decorate(method: AsyncMethod) -> Callable[..., asyncio.Task[object]]:
        taken = _positional_count(method) - 1  # without self

        @functools.wraps(method)
        def slot(self: Any, *args: object) -> asyncio.Task[object]:
            widget = getattr(self, button) if button is not None else None
            return start_task(
                _disabling(widget, method(self, *args[:taken])),
                banner=getattr(self, "banner", None),
            )

        return slot

    return decorate(method) if method is not None else decorate


def _positional_count(method: AsyncMethod) -> int:
    parameters = inspect.signature(method).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 1_000  # takes them all
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds)


async def _disabling(widget: QWidget | None, work: Coroutine[Any, Any, T]) -> T:
    if widget is None:
        return await work
    widget.setEnabled(False)
    try:
        return await work
    finally:
        # The window may have closed (and Qt deleted the widget) while the work ran.
        with contextlib.suppress(RuntimeError):
            widget.setEnabled(True)


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
    import asyncio

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
    import asyncio

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
