"""Pages follow what happens elsewhere (a send, the daily-limit rule) without waiting for a poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from postdesk.core import credentials, services, settings, usage
from postdesk.gui.context import AppContext
from postdesk.gui.dialogs.test_send import TestSendDialog
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.smtp_settings import LAST_USED_COLUMN, SmtpSettingsPage
from postdesk.gui.widgets.usage_panel import UsagePanel
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.relay import DOMAIN, build_world, close_world, message
from support.services import free_port

pytestmark = pytest.mark.nsd


def open_window(qtbot: Any, store: Any, world: Any) -> MainWindow:
    # The relay listens where the workspace says, as in Postdesk (test sends go there).
    with store.session() as s:
        settings.put(s, "relay_port", free_port())
    # The watches are not started: whatever updates the pages here is a change notification.
    context = AppContext(relay_options=world.options(listen_port=None, tracking_port=None))
    window = MainWindow(context=context)
    qtbot.addWidget(window)
    window.show()
    return window


def smtp_settings(window: MainWindow) -> SmtpSettingsPage:
    page = window.page(Tab.SMTP_SETTINGS)
    assert isinstance(page, SmtpSettingsPage)
    return page


def last_used(page: SmtpSettingsPage) -> str:
    return page.table.item(0, LAST_USED_COLUMN).text()


def test_a_test_send_with_the_relay_stopped_offers_start_then_pages_follow(
    qapp: QApplication, qtbot: Any, store: Any, secret_service: str, nsd: Any, postdesk_home: Any
) -> None:
    async def scenario() -> None:
        world = await build_world(store, nsd, postdesk_home)
        window = open_window(qtbot, store, world)
        try:
            await window.attach_store(store)
            relay = window.relay_control
            assert relay is not None and not relay.running
            window.open_domain(Tab.SMTP_SETTINGS, DOMAIN)
            page = smtp_settings(window)
            page.table.selectRow(0)
            assert last_used(page) == "never"
            [panel] = window.page(Tab.SMTP_SERVICE).findChildren(UsagePanel)
            await wait_for(lambda: panel.today_label.text().startswith("Today: 0 "))

            page.test_send_button.click()
            [dialog] = dialogs_of(TestSendDialog)
            dialog.to_edit.setText("carol@client.test")
            dialog.run_button.click()
            verdict = dialog.detail.verdict
            assert verdict.heading_label.text() == "The built-in relay is stopped"
            assert "Nothing is accepting connections" not in verdict.advice_label.text()
            assert dialog.start_relay_button.isVisible()

            dialog.start_relay_button.click()
            await wait_for(lambda: dialog.detail.result is not None, 30)
            assert dialog.detail.result.ok, dialog.detail.result.advice
            assert relay.running
            assert not dialog.start_relay_button.isVisible()

            # No poll has run: the relay's own notification brings the new figures.
            await wait_for(lambda: last_used(page).startswith("Today, "))
            await wait_for(lambda: panel.today_label.text().startswith("Today: 1 "))
            assert panel.today_label.text().startswith("Today: 1 / 1,500")
            dialog.close_button.click()
        finally:
            await window.context.close()
            await close_world(world)

    run_on_qt_loop(qapp, scenario())


def test_the_daily_limit_deletion_empties_smtp_settings_at_once(
    qapp: QApplication, qtbot: Any, store: Any, secret_service: str, nsd: Any, postdesk_home: Any
) -> None:
    async def scenario() -> None:
        world = await build_world(store, nsd, postdesk_home)
        window = open_window(qtbot, store, world)
        try:
            await window.attach_store(store)
            relay = window.relay_control
            assert relay is not None and await relay.start()
            window.open_domain(Tab.SMTP_SETTINGS, DOMAIN)
            page = smtp_settings(window)
            assert page.count_label.text() == "1 of 5 SMTP users"
            assert page.create_button.isEnabled()

            with store.session() as s:
                service_id = services.default_service(s).id
            usage.record_sent(store, recipients=1499, service_id=service_id)
            # Two recipients take the day past 1,500: the rule deletes every SMTP user.
            reply = await asyncio.to_thread(
                world.send,
                relay.port,
                message("Two more"),
                rcpts=["a@client.test", "b@client.test"],
            )
            assert reply[0] == 250
            assert credentials.list_smtp_users(store, DOMAIN) == []

            await wait_for(lambda: page.count_label.text() == "0 of 5 SMTP users")
            assert page.users_stack.currentWidget() is page.no_users
            await wait_for(lambda: window.banner.message_label.text().startswith("Daily limit"))
            assert window.banner.action_button.text() == "Open SMTP Settings"
        finally:
            await window.context.close()
            await close_world(world)

    run_on_qt_loop(qapp, scenario())
