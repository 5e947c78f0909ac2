"""Deliverability in the window: the numbers table, the alerts in the banner and the tray, and
the Mail menu's ways to Activity and the suppression list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from postdesk.core import activity, settings
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpUser
from postdesk.gui.asyncutil import running_tasks
from postdesk.gui.dialogs.activity import ActivityDialog
from postdesk.gui.dialogs.suppression import SuppressionDialog
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.widgets.deliverability import BOUNCE_RATE_COLUMN, DeliverabilityPanel
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

NOW = dt.datetime.now(dt.UTC)


def send(
    store: Store,
    outcomes: dict[str, tuple[str, str | None]],
    *,
    login: str | None = None,
    at: dt.datetime = NOW,
    critical: bool = False,
    subject: str = "Hello",
) -> int:
    with store.session() as s:
        domain = s.query(DedicatedDomain).filter_by(name="shop.example").one()
        user_id = None
        if login is not None:
            user = s.query(SmtpUser).filter_by(login=login).one_or_none()
            if user is None:
                user = SmtpUser(domain_id=domain.id, login=login, password_hash="x")
                s.add(user)
                s.flush()
            user_id = user.id
        row = queue.enqueue(
            s,
            domain_id=domain.id,
            smtp_user_id=user_id,
            mail_from="a@shop.example",
            rcpt_tos=list(outcomes),
            raw=b"Subject: x\r\n\r\n",
            subject=subject,
            now=at,
        )
        row.critical = critical
        s.flush()
        activity.add_recipients(s, row.id, list(outcomes))
        for address, (status, klass) in outcomes.items():
            activity.set_recipient_status(
                s, row.id, address, status, bounce_class=klass, reason="550 5.1.1 User unknown"
            )
        return row.id


def many(n: int, status: str, klass: str | None = None, tag: str = "") -> dict:
    return {f"{tag}{status}{i}@x.test": (status, klass) for i in range(n)}


@pytest.fixture
def shop(store: Store) -> Store:
    add_verified_domain(store, "shop.example")
    send(
        store, {**many(18, "delivered"), **many(2, "bounced", "hard.unknown_user")}, login="orders"
    )
    send(store, many(10, "delivered", tag="w"), login="news", at=NOW - dt.timedelta(days=3))
    return store


def test_numbers_per_domain_and_user_with_the_period_and_the_threshold_marked(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    panel = DeliverabilityPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 300)
    panel.show()
    run_on_qt_loop(qapp, panel.load(shop))
    rows = panel.row_texts()
    assert [r[0].strip() for r in rows] == ["shop.example", "news", "orders"]
    assert rows[0][1:6] == ["30", "28", "2", "0", "6.7 %"]
    assert rows[2][1:6] == ["20", "18", "2", "0", "10.0 %"]
    past = panel.table.item(2, BOUNCE_RATE_COLUMN)
    assert past.toolTip() == "Past the alert threshold set in Settings"
    assert panel.table.item(1, BOUNCE_RATE_COLUMN).toolTip() == ""  # news: 0 %

    async def last_day() -> None:
        panel.period_combo.setCurrentIndex(panel.period_combo.findData(1))
        await wait_for(lambda: panel.report is not None and panel.report.days == 1)

    run_on_qt_loop(qapp, last_day())
    assert [r[0].strip() for r in panel.row_texts()] == ["shop.example", "orders"]


def test_mail_no_smtp_user_sent_is_named_for_what_it_is(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    send(shop, many(2, "delivered", tag="reply"))  # a reply, a forwarded copy: no SMTP user
    panel = DeliverabilityPanel()
    qtbot.addWidget(panel)
    panel.show()
    run_on_qt_loop(qapp, panel.load(shop))
    names = [r[0].strip() for r in panel.row_texts()]
    assert names == ["shop.example", "news", "orders", "(sent by Postdesk)"]
    tip = panel.table.item(3, 0).toolTip()
    assert "replies" in tip and "forwarded copies" in tip and "test sends" in tip


def test_a_bouncing_domain_and_a_failed_critical_message_reach_banner_and_tray(
    qapp: QApplication, qtbot: Any, shop: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda _self, _title, text, *_args: shown.append(text)
    )
    window = MainWindow()
    qtbot.addWidget(window)
    run_on_qt_loop(qapp, window.attach_store(shop))
    watch = window.context.alerts
    assert watch is not None

    [alert] = run_on_qt_loop(qapp, watch.poll())
    assert alert.kind == "bounce_rate"
    assert window.banner.message_label.text() == (
        "shop.example: 10.0 % of the last day's mail bounced (2 of 20)."
    )
    assert run_on_qt_loop(qapp, watch.poll()) == [], "given once"

    failed = send(
        shop,
        {"ceo@client.test": ("bounced", "hard.unknown_user")},
        critical=True,
        subject="Invoice 7",
    )
    [alert] = run_on_qt_loop(qapp, watch.poll())
    assert window.banner.level == "error"
    assert "A critical message was not delivered: “Invoice 7” to ceo@client.test" in (
        window.banner.message_label.text()
    )
    assert len(shown) == 2 and shown[-1].startswith("A critical message was not delivered")

    async def opened() -> None:
        window.banner.action_button.click()  # Open Activity, on that message
        await wait_for(lambda: any(d.detail_for == failed for d in dialogs_of(ActivityDialog)))

    run_on_qt_loop(qapp, opened())
    for dialog in dialogs_of(ActivityDialog):
        dialog.close()


def test_thresholds_come_from_the_settings(qapp: QApplication, shop: Store) -> None:
    from postdesk.gui.alerts import AlertWatch

    with shop.session() as s:
        settings.change(s, "alert_bounce_rate_percent", 10)
    watch = AlertWatch(lambda: shop)
    assert run_on_qt_loop(qapp, watch.poll()) == []  # 10.0 % is not past 10 %


def test_the_mail_menu_opens_activity_and_the_suppression_list(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    actions = {a.text(): a for a in window.mail_menu.actions()}
    assert set(actions) == {"&Activity…", "&Suppression list…"}
    assert not any(a.isEnabled() for a in actions.values()), "nothing to show before a workspace"
    run_on_qt_loop(qapp, window.attach_store(shop))

    async def listed() -> None:
        actions["&Suppression list…"].trigger()
        actions["&Suppression list…"].trigger()
        assert len(dialogs_of(SuppressionDialog)) == 1, "one list window at a time"
        actions["&Activity…"].trigger()
        await wait_for(lambda: any(len(d.rows) == 2 for d in dialogs_of(ActivityDialog)))

    run_on_qt_loop(qapp, listed())
    for dialog in dialogs_of(ActivityDialog) + dialogs_of(SuppressionDialog):
        dialog.close()


def test_smtp_settings_shows_the_domains_numbers_and_opens_its_activity(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    from postdesk.gui.tabs.smtp_settings import SmtpSettingsPage

    page = SmtpSettingsPage()
    qtbot.addWidget(page)
    page.resize(900, 760)
    page.show()

    async def scenario() -> None:
        await page.attach(shop)
        await wait_for(lambda: page.deliverability.report is not None)
        page.activity_button.click()
        await wait_for(lambda: any(len(d.rows) == 2 for d in dialogs_of(ActivityDialog)))

    run_on_qt_loop(qapp, scenario())
    assert [r[0].strip() for r in page.deliverability.row_texts()] == [
        "shop.example",
        "news",
        "orders",
    ]
    (dialog,) = dialogs_of(ActivityDialog)
    assert dialog.domain_filter.currentData() == "shop.example"
    dialog.close()


def test_domain_settings_shows_each_providers_webhook_url_and_what_arrived(
    qapp: QApplication, qtbot: Any, shop: Store, secret_service: str
) -> None:
    from PySide6.QtGui import QGuiApplication

    from postdesk.core.store.models import WebhookEvent
    from postdesk.core.webhooks import urls
    from postdesk.gui.tabs.domain_settings import DomainSettingsPage
    from postdesk.gui.widgets.provider_webhooks import indicator

    with shop.session() as s:
        settings.change(s, "tracking_target", "track.postdesk.example")
        s.add(WebhookEvent(provider="sendgrid", event_id="test-1", received_at=NOW))
        settings.put(s, urls.COUNTS_KEY, {"sendgrid": {"received": 1, "unmatched": 1}})
    page = DomainSettingsPage()
    qtbot.addWidget(page)
    page.resize(900, 900)
    page.show()

    async def scenario() -> None:
        await page.attach(shop)
        assert not page.webhooks.rows.isVisible(), "the keyring is asked only on demand"
        page.webhooks.show_button.click()
        await wait_for(lambda: page.webhooks.urls["sendgrid"].value() != "")

    run_on_qt_loop(qapp, scenario())
    hooks = page.webhooks
    sendgrid = hooks.urls["sendgrid"].value()
    assert sendgrid.startswith("http://track.postdesk.example") and sendgrid.endswith(
        "/hooks/sendgrid"
    )
    assert "/hooks/postmark/" in hooks.urls["postmark"].value()  # its secret path
    assert hooks.state_text("sendgrid").startswith("✓ Test event received")
    assert "1 about mail Postdesk did not send" in hooks.state_text("sendgrid")
    assert hooks.state_text("mailgun") == "No verification key stored yet: events would be refused."
    with_key = urls.WebhookInfo("mailgun", "http://x/hooks/mailgun", True, None, 0, 0)
    assert indicator(with_key)[0] == "No event received yet: send the provider's test event."
    hooks.urls["mailgun"].copy_button.click()
    assert QGuiApplication.clipboard().text() == hooks.urls["mailgun"].value()


def test_a_providers_key_is_pasted_in_the_window_checked_as_typed_and_kept_in_the_keyring(
    qapp: QApplication, qtbot: Any, shop: Store, secret_service: str
) -> None:
    from PySide6.QtCore import Qt

    from postdesk.core.webhooks import urls
    from postdesk.gui.tabs.domain_settings import DomainSettingsPage

    with shop.session() as s:
        settings.change(s, "tracking_target", "track.postdesk.example")
    page = DomainSettingsPage()
    qtbot.addWidget(page)
    page.resize(900, 900)
    page.show()
    mailgun_key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

    async def scenario() -> None:
        await page.attach(shop)
        page.webhooks.show_button.click()
        await wait_for(lambda: page.webhooks.urls["mailgun"].value() != "")
        assert page.webhooks.state_text("mailgun").startswith("No verification key")
        # Postmark's URL carries a secret path of its own: basic auth is optional there.
        assert page.webhooks.state_text("postmark").startswith("No event received yet")

        # A SendGrid key that is not one: said under the field, Enter saves nothing.
        page.webhooks.key_buttons["sendgrid"].click()
        dialog = page.webhook_key_dialog
        qtbot.keyClicks(dialog.key_edit, "not-a-key")
        assert "not a SendGrid verification key" in dialog.key_message.text()
        qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
        assert dialog.isVisible() and dialog.key_edit.text() == "not-a-key"
        dialog.reject()

        page.webhooks.key_buttons["mailgun"].click()
        dialog = page.webhook_key_dialog
        assert dialog.key_edit.echoMode() == dialog.key_edit.EchoMode.Password
        qtbot.keyClicks(dialog.key_edit, mailgun_key)
        qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)  # Enter saves
        await wait_for(
            lambda: page.webhooks.state_text("mailgun").startswith("No event received yet")
        )
        await wait_for(lambda: not running_tasks())

    run_on_qt_loop(qapp, scenario())
    assert urls.read_secret(shop, "mailgun") == mailgun_key
    assert page.webhooks.state_text("sendgrid").startswith("No verification key")


def test_sends_through_per_smtp_user_changes_its_route_and_names_the_spf_include(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    from postdesk.core.store.models import SmtpService
    from postdesk.gui.dialogs.new_smtp_user import NewSmtpUserDialog
    from postdesk.gui.tabs.smtp_settings import SERVICE_COLUMN, SmtpSettingsPage

    with shop.session() as s:
        own = SmtpService(
            name="SendGrid",
            host="smtp.sendgrid.net",
            port=587,
            security="starttls",
            spf_include="sendgrid.net",
            is_default=True,
        )
        bulk = SmtpService(
            name="Mailgun",
            host="smtp.mailgun.org",
            port=587,
            security="starttls",
            spf_include="mailgun.org",
        )
        s.add_all([own, bulk])
        s.flush()
        s.query(DedicatedDomain).filter_by(name="shop.example").one().service_id = own.id
    page = SmtpSettingsPage()
    qtbot.addWidget(page)
    page.resize(900, 760)
    page.show()

    def combo(login: str) -> Any:
        rows = [page.table.item(r, 0).text() for r in range(page.table.rowCount())]
        return page.table.cellWidget(rows.index(login), SERVICE_COLUMN)

    async def scenario() -> None:
        await page.attach(shop)
        await wait_for(lambda: page.table.rowCount() == 2)
        assert combo("orders").currentText() == "The domain's service (SendGrid)"
        assert [combo("orders").itemText(i) for i in range(2)][1] == "Mailgun"
        combo("orders").setCurrentIndex(combo("orders").findData("Mailgun"))
        await wait_for(lambda: page.banner.isVisible())

    run_on_qt_loop(qapp, scenario())
    assert page.banner.message_label.text() == "orders@shop.example now sends through Mailgun."
    assert "include:mailgun.org" in page.banner.hint_label.text()
    with shop.session() as s:
        user = s.query(SmtpUser).filter_by(login="orders").one()
        assert user.service_id == s.query(SmtpService).filter_by(name="Mailgun").one().id
    assert combo("orders").currentData() == "Mailgun"  # shown again after the reload

    dialog = NewSmtpUserDialog(
        "shop.example", [], page, services=["SendGrid", "Mailgun"], domain_service="SendGrid"
    )
    qtbot.addWidget(dialog)
    assert dialog.service() is None
    dialog.service_combo.setCurrentIndex(1)
    assert dialog.service() == "Mailgun"


def test_one_click_unsubscribe_is_switched_per_domain_and_audited(
    qapp: QApplication, qtbot: Any, shop: Store
) -> None:
    from postdesk.core import unsubscribe
    from postdesk.core.store.models import AuditEvent
    from postdesk.gui.tabs.domain_settings import DomainSettingsPage

    page = DomainSettingsPage()
    qtbot.addWidget(page)
    page.resize(900, 900)
    page.show()

    async def scenario() -> None:
        await page.attach(shop)
        await wait_for(lambda: page.one_click.switch.isVisible())
        assert not page.one_click.checked
        page.one_click.switch.click()
        await wait_for(lambda: unsubscribe.one_click_on(shop, "shop.example"))
        await wait_for(lambda: page.one_click.checked)
        await wait_for(lambda: not running_tasks())  # the switch's read-back ends here

    run_on_qt_loop(qapp, scenario())
    # Without a verified tracking address nothing is added: the switch says what it waits for.
    assert "once it is verified" in page.one_click.explanation_label.text()
    with shop.session() as s:
        actions = [e.action for e in s.query(AuditEvent)]
    assert "domain.one_click_unsubscribe" in actions
