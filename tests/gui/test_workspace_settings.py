"""The Settings dialog: current values, saving all together, refused values, the relay restart."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from postdesk.core import settings
from postdesk.core.relay import RelayOptions
from postdesk.core.store.models import Setting
from postdesk.gui.asyncutil import running_tasks, start_task
from postdesk.gui.context import AppContext
from postdesk.gui.dialogs.workspace_settings import WorkspaceSettingsDialog
from postdesk.gui.mainwindow import MainWindow
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.services import free_port


def _setting(store: Any, key: str) -> Any:
    with store.session() as s:
        return settings.get(s, key)


def _stored_keys(store: Any) -> set[str]:
    with store.session() as s:
        return {row.key for row in s.query(Setting)}


@pytest.fixture
def host(qtbot: Any) -> QWidget:
    # Dialogs open over a window, as in Postdesk (closing the last window ends the event loop).
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def dialog(qapp: Any, host: QWidget, store: Any) -> WorkspaceSettingsDialog:
    with store.session() as s:
        settings.change(s, "relay_host", "relay.brightshop.com")
        settings.change(s, "mx_target", "mail.brightshop.com")
    opened = WorkspaceSettingsDialog(store, host)
    opened.open()
    run_on_qt_loop(qapp, opened.load())
    return opened


def _save(qapp: Any, dialog: WorkspaceSettingsDialog) -> None:
    async def press() -> None:
        dialog.save_button.click()
        await wait_for(lambda: not running_tasks())

    run_on_qt_loop(qapp, press())


def test_shows_the_current_settings(dialog: WorkspaceSettingsDialog) -> None:
    assert dialog.relay_host.text() == "relay.brightshop.com"
    assert dialog.relay_port.value() == 2525
    assert dialog.relay_security.currentText() == "STARTTLS"
    assert dialog.relay_max_message_mb.text() == "25 MB"
    assert dialog.mx_target.text() == "mail.brightshop.com"
    assert dialog.return_path_target.text() == ""
    assert dialog.return_path_target.placeholderText() == "Not used"
    assert dialog.tracking_delay_minutes.text() == "15 minutes"
    assert dialog.blocklists.toPlainText().splitlines()[0] == "zen.spamhaus.org"
    assert dialog.save_button.isEnabled()


def test_changed_settings_are_saved_and_the_dialog_closes(
    qapp: Any, dialog: WorkspaceSettingsDialog, store: Any
) -> None:
    dialog.relay_port.setValue(2600)
    dialog.tracking_delay_minutes.setValue(30)
    dialog.relay_security.setCurrentText("TLS")
    dialog.dmarc_rua.setText("mailto:Reports@BrightShop.com")
    dialog.mx_target.clear()  # empty: no MX record
    dialog.blocklists.setPlainText("zen.spamhaus.org\n\n  bl.spamcop.net  \n")
    _save(qapp, dialog)

    assert not dialog.isVisible()
    assert dialog.changed_keys == {
        "relay_port",
        "tracking_delay_minutes",
        "relay_security",
        "dmarc_rua",
        "mx_target",
        "blocklists",
    }
    assert _setting(store, "relay_port") == 2600
    assert _setting(store, "tracking_delay_minutes") == 30
    assert _setting(store, "relay_security") == "tls"
    assert _setting(store, "dmarc_rua") == "Reports@brightshop.com"
    assert _setting(store, "mx_target") is None
    assert _setting(store, "blocklists") == ["zen.spamhaus.org", "bl.spamcop.net"]
    # Untouched settings keep following Postdesk's defaults.
    assert "relay_max_message_mb" not in _stored_keys(store)


def test_an_empty_blocklist_box_goes_back_to_the_usual_lists(
    qapp: Any, dialog: WorkspaceSettingsDialog, store: Any
) -> None:
    with store.session() as s:
        settings.change(s, "blocklists", ["only.example.net"])
    run_on_qt_loop(qapp, dialog.load())
    dialog.blocklists.setPlainText("\n  \n")
    _save(qapp, dialog)
    assert _setting(store, "blocklists") == settings.DEFAULTS["blocklists"]


def test_a_wrong_value_is_shown_under_its_field_and_nothing_is_saved(
    qapp: Any, dialog: WorkspaceSettingsDialog, store: Any
) -> None:
    dialog.relay_port.setValue(2600)
    dialog.dmarc_rua.setText("reports at brightshop")
    dialog.blocklists.setPlainText("zen.spamhaus.org\nmy list")
    _save(qapp, dialog)

    assert dialog.isVisible()
    dmarc = dialog.messages["dmarc_rua"]
    assert dmarc.isVisible() and "has no @" in dmarc.text()
    blocklists = dialog.messages["blocklists"]
    assert blocklists.isVisible() and "“my list” is not a blocklist name" in blocklists.text()
    assert not dialog.messages["relay_port"].isVisible()
    assert _setting(store, "relay_port") == 2525

    dialog.dmarc_rua.clear()
    dialog.blocklists.setPlainText("zen.spamhaus.org")
    _save(qapp, dialog)
    assert not dialog.isVisible()
    assert _setting(store, "relay_port") == 2600


def test_a_value_the_core_refuses_undoes_the_whole_save(
    qapp: Any, dialog: WorkspaceSettingsDialog, store: Any
) -> None:
    # The boxes only allow numbers the core takes; widen one to reach the core's own check.
    dialog.tracking_delay_minutes.setMaximum(10**7)
    dialog.tracking_delay_minutes.setValue(10**6)
    dialog.relay_port.setValue(2600)
    _save(qapp, dialog)

    assert dialog.isVisible()
    message = dialog.messages["tracking_delay_minutes"]
    assert message.isVisible() and "positive whole number" in message.text()
    assert _setting(store, "relay_port") == 2525
    assert _setting(store, "tracking_delay_minutes") == 15


def test_the_status_bar_button_opens_settings_and_a_port_change_restarts_the_relay(
    qapp: Any, qtbot: Any, store: Any, secret_service: str
) -> None:
    context = AppContext(relay_options=RelayOptions(listen_host="127.0.0.1", tracking_port=None))
    window = MainWindow(context=context, build_pages=False)
    qtbot.addWidget(window)
    window.show()
    assert not window.settings_button.isEnabled()  # no workspace yet
    first, second = free_port(), free_port()
    with store.session() as s:
        settings.put(s, "relay_port", first)

    async def scenario() -> None:
        await window.attach_store(store)
        control = context.relay
        assert control is not None
        start_task(control.start())
        await wait_for(lambda: control.running)
        window.settings_button.click()
        [opened] = dialogs_of(WorkspaceSettingsDialog)
        await wait_for(lambda: opened.relay_port.value() == first)
        opened.relay_port.setValue(second)
        opened.save_button.click()
        await wait_for(lambda: window.settings_dialog is None)
        assert "relay is restarting" in window.banner.message_label.text()
        await wait_for(lambda: control.running and control.port == second)
        assert window.relay_status is not None
        assert f"127.0.0.1:{second}" in window.relay_status.status_label.text()
        await control.stop()

    run_on_qt_loop(qapp, scenario())
    assert window.settings_dialog is None  # let go once closed
