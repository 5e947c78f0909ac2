"""The main window shell: tabs, pages, screenshots, failure dialogs, geometry, keyring warning."""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressDialog, QPushButton

from postdesk.core import secrets
from postdesk.core.errors import UserError
from postdesk.gui import errors
from postdesk.gui.app import SCREENSHOT_SIZE, gui_settings, run_gui
from postdesk.gui.asyncutil import busy, start_task, with_wait_dialog
from postdesk.gui.mainwindow import NO_KEYRING_TITLE, MainWindow
from postdesk.gui.tabs import Tab, tab_for_title
from postdesk.resources_path import resource_path
from support.qtloop import dialogs_of, run_on_qt_loop

TABS = [
    "SMTP Service",
    "Dedicated Domain And IP",
    "Domain Settings",
    "SMTP Settings",
    "Conversations",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def visible_texts(widget: Any) -> list[str]:
    return [lbl.text() for lbl in widget.findChildren(QLabel) if lbl.isVisible()]


@pytest.fixture
def window(qtbot: Any) -> MainWindow:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def hooks(qapp: QApplication) -> Iterator[errors.ExceptionHooks]:
    installed = errors.install_exception_hooks(lambda: None)
    yield installed
    installed.uninstall()
    for dialog in [*dialogs_of(errors.ExceptionDialog), *dialogs_of(QMessageBox)]:
        dialog.close()


def test_window_has_the_five_tabs_in_order(window: MainWindow) -> None:
    assert window.windowTitle() == "Postdesk"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == TABS


def test_each_page_shows_title_description_and_empty_state(window: MainWindow) -> None:
    descriptions = set()
    for index, title in enumerate(TABS):
        window.tabs.setCurrentIndex(index)
        page = window.current_page()
        texts = visible_texts(page)
        assert title in texts
        assert page.description in texts
        assert len(page.description.split()) >= 6, "a description says what the section does"
        # The empty state says what will appear: a heading and an explanation below it.
        assert any(text.startswith("No ") for text in texts)
        assert not page.banner.isVisible()
        descriptions.add(page.description)
    assert len(descriptions) == len(TABS)


def test_a_tab_title_typed_in_any_case_names_its_tab() -> None:
    assert tab_for_title(" dedicated domain and ip ") is Tab.DOMAINS
    assert tab_for_title("Dedicated Domains") is None
    assert [tab.title for tab in Tab] == TABS


def test_domains_page_empty_state_says_what_to_do_first(window: MainWindow) -> None:
    window.select_tab(Tab.DOMAINS)
    texts = visible_texts(window.current_page())
    assert "No sending domains yet" in texts
    assert "Add your domain to get the DNS records to publish." in texts


def test_screenshot_of_each_tab(qapp: QApplication, tmp_path: Path, postdesk_home: Path) -> None:
    shots = []
    for title in TABS:
        path = tmp_path / "nested" / "folder" / f"{title}.png"
        assert run_gui(screenshot=path, tab=title.upper()) == 0
        assert png_size(path) == SCREENSHOT_SIZE
        shots.append(path.read_bytes())
    assert len(set(shots)) == len(TABS), "each screenshot shows a different tab"
    assert not (postdesk_home / "gui.ini").exists(), "screenshot mode must not save geometry"


def test_relative_screenshot_path_is_relative_to_current_dir(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_gui(screenshot=Path("out/window.png")) == 0
    assert png_size(tmp_path / "out" / "window.png") == SCREENSHOT_SIZE


def test_unknown_tab_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "shot.png"
    assert run_gui(screenshot=path, tab="Inbox") == 2
    assert capsys.readouterr().err.strip() == (
        "Unknown tab 'Inbox'. Choose one of: SMTP Service, Dedicated Domain And IP, "
        "Domain Settings, SMTP Settings, Conversations"
    )
    assert not path.exists()


def test_bug_shows_report_that_can_be_copied(qtbot: Any, hooks: errors.ExceptionHooks) -> None:
    try:
        raise RuntimeError("the relay queue file is corrupt")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    [dialog] = dialogs_of(errors.ExceptionDialog)
    assert dialog.windowTitle() == "Something went wrong"
    assert "RuntimeError: the relay queue file is corrupt" in dialog.report
    assert "Traceback" in dialog.report
    assert "Postdesk 0." in dialog.report
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == dialog.report
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_user_error_reaching_the_hook_shows_message_and_hint(hooks: errors.ExceptionHooks) -> None:
    error = UserError("domain.invalid", "That is not a domain name.", "Type it like example.com.")
    hooks.excepthook(UserError, error, None)
    assert not dialogs_of(errors.ExceptionDialog)
    [box] = dialogs_of(QMessageBox)
    assert box.text() == "That is not a domain name."
    assert box.informativeText() == "Type it like example.com."
    assert "Traceback" not in box.text() + box.informativeText() + box.detailedText()


def test_failed_task_reaches_dialog_and_user_error_reaches_banner(
    qapp: QApplication, window: MainWindow, hooks: errors.ExceptionHooks
) -> None:
    async def bug() -> None:
        raise ValueError("unexpected row in usage table")

    async def expected() -> None:
        raise UserError("dns.timeout", "The DNS server did not answer.", "Try Verify Now again.")

    async def scenario() -> None:
        page = window.current_page()
        start_task(bug(), banner=page.banner)
        start_task(expected(), banner=page.banner)
        await asyncio.sleep(0.05)

    run_on_qt_loop(qapp, scenario())
    [dialog] = dialogs_of(errors.ExceptionDialog)
    assert "ValueError: unexpected row in usage table" in dialog.report
    banner = window.current_page().banner
    assert banner.isVisible()
    assert banner.message_label.text() == "The DNS server did not answer."
    assert banner.hint_label.text() == "Try Verify Now again."


def test_busy_button_is_enabled_again_after_a_failure(qtbot: Any) -> None:
    button, status = QPushButton("Verify Now"), QLabel()
    qtbot.addWidget(button)
    with pytest.raises(UserError), busy(button, status, "Checking DNS…"):
        assert not button.isEnabled()
        assert status.text() == "Checking DNS…"
        raise UserError("dns.timeout", "No answer.")
    assert button.isEnabled()
    assert status.text() == ""


def test_cancel_in_wait_dialog_stops_the_work(qapp: QApplication, window: MainWindow) -> None:
    finished = []

    async def long_check() -> None:
        await asyncio.sleep(5)
        finished.append(True)

    async def press_cancel_when_shown() -> None:
        while not (shown := dialogs_of(QProgressDialog)):
            await asyncio.sleep(0.01)
        assert shown[0].labelText() == "Checking 200 domains…"
        [cancel] = [b for b in shown[0].findChildren(QPushButton) if b.text() == "Cancel"]
        cancel.click()

    async def scenario() -> None:
        presser = asyncio.ensure_future(press_cancel_when_shown())
        with pytest.raises(asyncio.CancelledError):
            await with_wait_dialog(window, "Checking 200 domains…", long_check())
        await presser

    run_on_qt_loop(qapp, scenario())
    assert finished == []
    assert dialogs_of(QProgressDialog) == []


def test_geometry_is_remembered_between_windows(qtbot: Any, postdesk_home: Path) -> None:
    first = MainWindow(gui_settings())
    qtbot.addWidget(first)
    first.resize(700, 520)  # inside the 800×600 offscreen screen
    first.show()
    qtbot.waitExposed(first)
    first.close()
    assert (postdesk_home / "gui.ini").exists()

    second = MainWindow(gui_settings())
    qtbot.addWidget(second)
    assert second.size() == QSize(700, 520)


def test_missing_keyring_is_reported_in_banner_and_dialog(
    qapp: QApplication, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keyring's own "no backend" stand-in: what a machine without a keyring gets.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    secrets.reset_backend()
    try:
        run_on_qt_loop(qapp, window.check_secure_storage())
    finally:
        secrets.reset_backend()
    assert window.banner.isVisible()
    assert NO_KEYRING_TITLE in window.banner.message_label.text()
    [box] = [b for b in dialogs_of(QMessageBox) if b.windowTitle() == NO_KEYRING_TITLE]
    assert "keyring" in box.text()
    assert box.informativeText(), "the dialog says how to fix it"
    box.close()


def test_app_icon_is_shipped() -> None:
    icon = resource_path("icons/postdesk-256.png")
    assert icon.is_file()
    assert png_size(icon) == (256, 256)


def test_corrupt_database_is_explained_in_a_dialog(qapp, qtbot, postdesk_home) -> None:
    from postdesk.gui.app import WORKSPACE_ERROR_TITLE, open_workspace

    postdesk_home.mkdir(parents=True)
    (postdesk_home / "postdesk.db").write_bytes(b"not a database" * 100)
    window = MainWindow()
    qtbot.addWidget(window)
    seen = {}

    async def close_the_box_when_shown() -> None:
        while not (boxes := dialogs_of(QMessageBox)):
            await asyncio.sleep(0.01)
        seen.update(
            title=boxes[0].windowTitle(), text=boxes[0].text(), hint=boxes[0].informativeText()
        )
        boxes[0].close()

    async def scenario():
        closer = asyncio.ensure_future(close_the_box_when_shown())
        result = await open_workspace(window)
        await closer
        return result

    assert run_on_qt_loop(qapp, scenario()) is None
    assert seen["title"] == WORKSPACE_ERROR_TITLE
    assert str(postdesk_home / "postdesk.db") in seen["text"]
    assert "Move it aside" in seen["hint"]
