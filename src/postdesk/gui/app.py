"""Start the GUI: the QApplication, the qasync event loop, and the offscreen screenshot mode.

asyncio and qasync are imported only once the window is usable (its first tab built and showing
the workspace, when that can be read with sqlite3); keep this module (and what the window
imports at start) free of them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication

from postdesk import APP_NAME, __version__
from postdesk.core.config import data_dir
from postdesk.gui.context import AppContext
from postdesk.gui.errors import ExceptionHooks, install_exception_hooks
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.qtutils import app_icon
from postdesk.gui.tabs import TAB_TITLES, tab_for_title

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

DESKTOP_FILE_NAME = "postdesk"
SETTINGS_FILE = "gui.ini"
SCREENSHOT_SIZE = (1280, 800)
WORKSPACE_ERROR_TITLE = "Postdesk can't open its workspace"
# Offscreen, layout and the first paint need a few passes of the event loop before a grab; a
# page attached to the store may still be finishing reads it started, so those get some time.
SCREENSHOT_SETTLE_PASSES = 5
SCREENSHOT_SETTLE_S = 0.02
# zlib level 1 instead of Qt's default 6: about the same size for a window, in half the time.
SCREENSHOT_PNG_QUALITY = 80


def run_gui(screenshot: Path | None = None, tab: str | None = None) -> int:
    """Run the Postdesk window until it closes; with ``screenshot``, save a PNG of it instead."""
    chosen = tab_for_title(tab) if tab is not None else None
    if tab is not None and chosen is None:
        print(f"Unknown tab '{tab}'. Choose one of: {', '.join(TAB_TITLES)}", file=sys.stderr)
        return 2
    if screenshot is not None:
        # Must be decided before the QApplication exists; an explicit choice still wins.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        screenshot = Path(screenshot).absolute()
    app = _application()
    hooks = install_exception_hooks(app.activeWindow)
    try:
        # The relay, the watches and change notifications: built once, used by the window.
        context = AppContext()
        window = MainWindow(
            None if screenshot is not None else gui_settings(), context=context, build_pages=False
        )
        if chosen is not None:
            window.select_tab(chosen)
        if screenshot is not None:
            window.resize(*SCREENSHOT_SIZE)
        window.show()
        app.processEvents()  # the frame paints first, as early as possible
        window.build_current_page()  # the core loads now that the frame is on screen
        # The tab on screen shows the workspace read with sqlite3 (milliseconds, see
        # show_first_read): usable before asyncio and qasync (a good part of start-up) load.
        shown = window.show_first_read()
        if screenshot is not None and shown:
            # Usable now: the tab on screen is built and shows the workspace; the others are a
            # click away (built when shown). The status bar's relay controls come with the store.
            return _save_screenshot_now(window, screenshot)
        if shown:
            app.processEvents()  # paint the data before the imports below
        if screenshot is None and threading.current_thread() is threading.main_thread():
            # Qt's loop never returns to Python's signal handling, so let Ctrl+C in a terminal quit.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        import qasync  # after PySide6: qasync binds to whichever Qt binding is already imported

        return int(qasync.run(_main(window, context, hooks, screenshot)))
    finally:
        hooks.uninstall()


def _application() -> QApplication:
    existing = QApplication.instance()
    # Only argv[0]: the rest are Postdesk's own command-line arguments, not Qt's.
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(app_icon())
    # The main coroutine decides when Postdesk ends; Qt quitting on its own would stop the
    # asyncio loop under it while the coroutine still waits.
    app.setQuitOnLastWindowClosed(False)
    return app


def gui_settings() -> QSettings:
    """The GUI's own settings (window geometry), kept in the data directory."""
    from PySide6.QtCore import QSettings  # not needed by screenshots

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return QSettings(str(folder / SETTINGS_FILE), QSettings.Format.IniFormat)


async def _main(
    window: MainWindow, context: AppContext, hooks: ExceptionHooks, screenshot: Path | None
) -> int:
    """The window's life once the loop runs. The first tab may show the workspace already (read
    with sqlite3); the full store (SQLAlchemy, about half a second to import) loads now, off the
    GUI thread, and what the user started meanwhile waits for it."""
    import asyncio

    from postdesk.gui.asyncutil import start_task

    asyncio.get_running_loop().set_exception_handler(hooks.loop_exception_handler)
    store = await open_workspace(
        window, quiet=screenshot is not None, preload=window.current_page().later_modules
    )
    if store is None:
        return 1
    try:
        context.open_workspace(store)
        await window.attach_store(store)
        if screenshot is not None:
            # Screenshots show the status bar but never open a listener.
            return await _save_screenshot(window, screenshot)
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        context.start()
        start_task(window.build_rest(), banner=window.banner)  # the first tab is usable now
        start_task(window.check_secure_storage(), banner=window.banner)
        await closed.wait()
        return 0
    finally:
        # Before the store closes: the message being handed over finishes first.
        await context.close()
        store.close()


async def open_workspace(  # type: ignore[no-untyped-def]
    window: MainWindow, *, quiet: bool = False, preload: tuple[str, ...] = ()
):
    """Open (and migrate) the database off the GUI thread; explain and stop if it can't be.

    ``quiet`` (screenshot mode) prints the problem instead of showing a dialog. ``preload``
    names modules imported in the same background call (the page on screen reads with them).
    """
    from PySide6.QtWidgets import QMessageBox

    from postdesk.core.errors import UserError
    from postdesk.gui.asyncutil import run_blocking
    from postdesk.gui.mainwindow import import_all

    def opened():  # type: ignore[no-untyped-def]
        from postdesk.core.store import open_store

        store = open_store()
        import_all(preload)
        return store

    try:
        return await run_blocking(opened)
    except UserError as error:
        if quiet:
            print(f"{error.message} {error.hint}", file=sys.stderr)
            return None
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            WORKSPACE_ERROR_TITLE,
            error.message,
            QMessageBox.StandardButton.Close,
            window,
        )
        box.setInformativeText(error.hint)
        box.open()
        import asyncio

        done = asyncio.Event()
        box.finished.connect(done.set)
        await done.wait()
        return None


def _save_screenshot_now(window: MainWindow, path: Path) -> int:
    """Grab the window once laid out and painted, with nothing still reading (no event loop)."""
    for _ in range(SCREENSHOT_SETTLE_PASSES):
        QApplication.processEvents()
    return _write_screenshot(window, path)


async def _save_screenshot(window: MainWindow, path: Path) -> int:
    """Grab the window once laid out and painted, giving the pages' reads time to finish."""
    import asyncio

    for _ in range(SCREENSHOT_SETTLE_PASSES):
        QApplication.processEvents()
        await asyncio.sleep(SCREENSHOT_SETTLE_S)
    return _write_screenshot(window, path)


def _write_screenshot(window: MainWindow, path: Path) -> int:
    image = window.grab()
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"Could not create the folder for the screenshot: {error}", file=sys.stderr)
            return 1
        if not image.save(str(path), "PNG", SCREENSHOT_PNG_QUALITY):
            print(f"Could not write the screenshot to {path}.", file=sys.stderr)
            return 1
        return 0
    finally:
        # After the PNG: closing is teardown (its close event's Qt types load only now).
        window.close()
        window.deleteLater()
