"""The window loads what its first tab needs, and the rest only when it is used.

``postdesk gui --screenshot`` runs the whole start-up (the first tab built and its data read from
the workspace) in its own process; what it has loaded when it exits is deterministic, unlike a
timing. The other tabs are built when shown, or after the first tab is usable.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QTableWidget

from support.loadedmodules import heavy, loaded_by

# Libraries for work that starts only on demand: the relay, DKIM, HTTPS fetches, the daily chart
# (there is no mail to chart yet), a new workspace's migrations, the keyring, DKIM keys and TLS
# certificates, DNS checks.
NOT_AT_START = (
    "aiosmtpd",
    "dkim",
    "postdesk.core.relay",
    "aiohttp",
    "httpx",
    "httpx2",
    "alembic",
    "PySide6.QtCharts",
    "keyring",
    "cryptography",
    "dns",
)
PAGES = {
    "SMTP Service": "postdesk.gui.tabs.smtp_service",
    "Dedicated Domain And IP": "postdesk.gui.tabs.domains",
    "Domain Settings": "postdesk.gui.tabs.domain_settings",
    "SMTP Settings": "postdesk.gui.tabs.smtp_settings",
    "Conversations": "postdesk.gui.tabs.conversations",
}


@pytest.mark.parametrize("tab", [None, *PAGES])
def test_the_window_starts_with_only_the_tab_on_screen(tab, tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    argv = ["gui", "--screenshot", str(shot), *(["--tab", tab] if tab else [])]
    modules, _ = loaded_by(argv, tmp_path)
    shown = tab or "SMTP Service"
    assert PAGES[shown] in modules
    assert heavy(modules, NOT_AT_START) == []
    assert heavy(modules, [m for t, m in PAGES.items() if t != shown]) == []
    assert shot.stat().st_size > 0


def test_the_other_pages_are_built_when_shown_or_right_after_start(qapp, qtbot, store) -> None:
    from postdesk.core.store.models import SmtpService
    from postdesk.gui.mainwindow import MainWindow
    from postdesk.gui.tabs import Tab
    from support.qtloop import run_on_qt_loop, wait_for

    with store.session() as s:
        s.add(SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="starttls"))
    window = MainWindow(build_pages=False)
    qtbot.addWidget(window)
    window.show()
    window.build_current_page()
    run_on_qt_loop(qapp, window.attach_store(store))
    assert [page.key for page in window.pages] == [Tab.SMTP_SERVICE]
    assert "Mailgun" in window.page(Tab.SMTP_SERVICE).findChild(QTableWidget).item(0, 0).text()

    async def show_then_the_rest() -> None:
        window.select_tab(Tab.SMTP_SETTINGS)  # shown: built at once; it reads the workspace
        assert [page.key for page in window.pages] == [Tab.SMTP_SERVICE, Tab.SMTP_SETTINGS]
        assert window.tabs.currentWidget() is window.page(Tab.SMTP_SETTINGS)
        await window.build_rest()
        await wait_for(lambda: all(page.store is store for page in window.pages))

    run_on_qt_loop(qapp, show_then_the_rest())
    assert [page.key for page in window.pages] == list(Tab)
    assert [window.tabs.tabText(i) for i in range(len(Tab))] == [tab.title for tab in Tab]
    assert window.current_page() is window.page(Tab.SMTP_SETTINGS)


# The ORM and what imports it, and the domain-name tables: a workspace already at the newest schema
# is read with sqlite3 for the tab on screen, and the full store loads after the window is usable.
ORM = (
    "sqlalchemy",
    "postdesk.core.store.models",
    "postdesk.core.services",
    "postdesk.core.usage",
    "postdesk.core.sending",
    "postdesk.core.validation",  # the IDNA and public suffix tables: no domain is typed yet
)


def _fill(store) -> None:  # type: ignore[no-untyped-def]
    from postdesk.core.store.models import DailyUsage, SmtpService
    from postdesk.core.usageday import utc_day

    with store.session() as s:
        s.add(SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="starttls"))
        s.add(SmtpService(name="Office", host="mail.example.net", port=465, security="tls"))
        s.flush()
        s.add(DailyUsage(day=utc_day(), bucket="service:1", service_id=1, sent=42))


def test_a_current_workspace_is_shown_without_loading_the_orm(store, tmp_path: Path) -> None:
    _fill(store)
    shot = tmp_path / "window.png"
    modules, _ = loaded_by(["gui", "--screenshot", str(shot)], tmp_path)
    assert "postdesk.core.store.lite" in modules
    assert heavy(modules, ORM) == []
    # The chart's library is needed now: there is mail to chart.
    assert heavy(modules, [m for m in NOT_AT_START if m != "PySide6.QtCharts"]) == []
    assert shot.stat().st_size > 0


def test_the_first_tab_shows_the_workspace_first_and_actions_wait_for_the_store(
    qapp, qtbot, store
) -> None:
    from postdesk.core import services
    from postdesk.gui.mainwindow import MainWindow
    from postdesk.gui.tabs import Tab
    from support.qtloop import run_on_qt_loop

    _fill(store)
    window = MainWindow(build_pages=False)
    qtbot.addWidget(window)
    window.show()
    window.build_current_page()
    assert window.show_first_read() is True  # at start, before the event loop runs
    assert window.store is None  # shown from the light read, before the full store
    page = window.page(Tab.SMTP_SERVICE)
    table = page.findChild(QTableWidget)
    assert [table.item(row, 0).text() for row in range(table.rowCount())] == ["Mailgun", "Office"]
    assert table.item(1, 2).text() == "TLS (implicit)"
    assert page.usage_panel.today_label.text().startswith("Today: 42 / 1,500")
    assert page.usage_panel.chart.series[-1][1] == 42

    async def click_then_open() -> None:
        task = page.make_default("Office")  # clicked while the store is still loading
        await asyncio.sleep(0.05)
        assert not task.done()
        await window.attach_store(store)
        await task

    run_on_qt_loop(qapp, click_then_open())
    assert services.get_service(store, "Office").is_default
    assert table.item(0, 0).text() == "Office"  # the default first, as read by the full store


def test_no_first_read_for_a_workspace_that_is_not_current(qapp, qtbot, postdesk_home) -> None:
    from postdesk.gui.mainwindow import MainWindow

    window = MainWindow(build_pages=False)  # no workspace yet: open_store will create it
    qtbot.addWidget(window)
    window.show()
    window.build_current_page()
    assert window.show_first_read() is False


def test_the_start_check_of_the_keyring_stores_and_reads_nothing(qapp, qtbot, monkeypatch) -> None:
    import keyring.backend

    from postdesk.core import secrets
    from postdesk.gui.mainwindow import NO_KEYRING_TITLE, MainWindow
    from support.qtloop import run_on_qt_loop

    calls: list[str] = []

    class Recording(keyring.backend.KeyringBackend):
        """Keeps nothing; notes each call, which the start check must not make."""

        priority = 1  # type: ignore[assignment]

        def set_password(self, service: str, username: str, password: str) -> None:
            calls.append("set")

        def get_password(self, service: str, username: str) -> str | None:
            calls.append("get")
            return None

        def delete_password(self, service: str, username: str) -> None:
            calls.append("delete")

    monkeypatch.setattr(secrets, "_load_backend", Recording)
    secrets.reset_backend()
    try:
        window = MainWindow(build_pages=False)
        qtbot.addWidget(window)
        run_on_qt_loop(qapp, window.check_secure_storage())
    finally:
        secrets.reset_backend()
    assert calls == []
    assert NO_KEYRING_TITLE not in window.banner.message_label.text()


# What a window usable from a current workspace has not loaded yet: the event loop (asyncio and
# qasync start once the first tab shows its data), the log file's rotating handler (opened with
# the first record), and what only other tabs, dialogs or the ldd check of `gui` use.
NOT_BEFORE_USABLE = (
    "asyncio",
    "qasync",
    "logging.handlers",
    "subprocess",
    "csv",
    "postdesk.gui.widgets.copyfield",
)
# Qt classes whose enums PySide6 builds when a class is first used (a few ms each): dialogs and
# widgets the first tab does not show. QMessageBox alone has eight enums.
QT_CLASSES_NOT_BEFORE_USABLE = (
    "QMessageBox",
    "QFileDialog",
    "QPlainTextEdit",
    "QDialogButtonBox",
    "QLineEdit",
    "QFormLayout",
    "QFontDatabase",
    "QSettings",
    "QByteArray",
)
# Runs the screenshot, then reports the modules and the Qt classes used (PySide6 creates a class,
# with its enums, at its first use, and only then lists it in its module's namespace).
REPORT_START = """
import json, os, sys
from postdesk.cli import main
code = main(sys.argv[1:])
qt = [name for module in ("QtCore", "QtGui", "QtWidgets")
      for name in vars(sys.modules["PySide6." + module])]
with open(os.environ["START_REPORT"], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules), "qt": qt}, out)
"""


def _start(argv: list[str], folder: Path) -> dict:  # type: ignore[type-arg]
    report = folder / "start.json"
    done = subprocess.run(
        [sys.executable, "-c", REPORT_START, *argv],
        env={**os.environ, "START_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text())


@pytest.mark.parametrize("with_data", [False, True], ids=["empty", "with data"])
def test_the_window_is_usable_before_the_event_loop_starts(
    store, tmp_path: Path, with_data: bool
) -> None:
    if with_data:
        _fill(store)
    shot = tmp_path / "window.png"
    start = _start(["gui", "--screenshot", str(shot)], tmp_path)
    assert start["code"] == 0
    assert shot.stat().st_size > 0
    modules = set(start["modules"])
    assert "postdesk.gui.tabs.smtp_service" in modules
    assert heavy(modules, NOT_BEFORE_USABLE) == []
    assert heavy(modules, ORM) == []
    assert sorted(set(QT_CLASSES_NOT_BEFORE_USABLE) & set(start["qt"])) == []
    assert "QMainWindow" in start["qt"]  # the report does list the classes used


# The window as a user starts it (no screenshot), with the steps after start replaced by notes:
# the relay, the watches and the keyring check are not what this looks at.
INTERACTIVE = """
import json, os, sys
from postdesk.gui import app, context, mainwindow

notes = []
first_read = mainwindow.MainWindow.show_first_read
def show_first_read(self):
    shown = first_read(self)
    notes.append(["first read", shown, "asyncio" in sys.modules])
    return shown
attach = mainwindow.MainWindow.attach_store
async def attach_store(self, store):
    await attach(self, store)
    notes.append(["store attached", self.current_page().table.rowCount()])
    from PySide6.QtCore import QTimer
    QTimer.singleShot(0, self.close)  # the user closes the window
async def nothing(self):
    pass
mainwindow.MainWindow.show_first_read = show_first_read
mainwindow.MainWindow.attach_store = attach_store
mainwindow.MainWindow.check_secure_storage = nothing
context.AppContext.start = lambda self, **kwargs: notes.append(["services started"])
code = app.run_gui()
with open(os.environ["START_REPORT"], "w") as out:
    json.dump({"code": code, "notes": notes}, out)
"""


def test_the_window_shows_the_workspace_then_opens_the_store(store, tmp_path: Path) -> None:
    _fill(store)
    report = tmp_path / "start.json"
    done = subprocess.run(
        [sys.executable, "-c", INTERACTIVE],
        env={**os.environ, "START_REPORT": str(report), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["code"] == 0
    assert result["notes"] == [
        ["first read", True, False],  # shown before asyncio was loaded
        ["store attached", 2],  # the full store shows the same two services
        ["services started"],
    ]
