"""Domain Settings: tracking toggles with their countdown, sending service, reply-to, DKIM keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel

from postdesk.core import dkimkeys, secrets, tracking
from postdesk.core.domains import expected_records, get_domain
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    DkimKey,
    DomainRecord,
    SmtpService,
    utcnow,
)
from postdesk.gui.asyncutil import running_tasks
from postdesk.gui.dialogs.change_service import ChangeServiceDialog
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.domain_settings import DomainSettingsPage
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

DOMAIN = "example.com"


@pytest.fixture
def page(qtbot: Any) -> DomainSettingsPage:
    widget = DomainSettingsPage()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    return widget


def attach(qapp: QApplication, page: DomainSettingsPage, store: Store) -> DomainSettingsPage:
    run_on_qt_loop(qapp, page.attach(store))
    return page


def add_service(store: Store, name: str, spf_include: str, *, default: bool = False) -> int:
    with store.session() as s:
        service = SmtpService(
            name=name,
            host=f"smtp.{spf_include}",
            port=587,
            security="starttls",
            spf_include=spf_include,
            is_default=default,
        )
        s.add(service)
        s.flush()
        return service.id


def add_domain_sending_through(store: Store, service_id: int) -> None:
    with store.session() as s:
        domain = DedicatedDomain(name=DOMAIN, ownership_token="t", service_id=service_id)
        domain.records = [
            DomainRecord(
                kind="spf", type="TXT", host=DOMAIN, value="v=spf1 include:sendgrid.net ~all"
            )
        ]
        s.add(domain)


def visible_texts(widget: Any) -> list[str]:
    return [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]


def pending_line(page: DomainSettingsPage, feature: str) -> str:
    return page.toggles[feature].pending_text  # type: ignore[index]


def click_and_wait(qapp: QApplication, click: Any, condition: Any) -> None:
    """Click (or type) on the running loop, then wait until the page shows the outcome."""

    async def act() -> None:
        click()
        await wait_for(condition)

    run_on_qt_loop(qapp, act())


def test_without_domains_the_page_says_where_to_add_one(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    attach(qapp, page, store)
    assert page.stack.currentWidget() is page.empty_state
    assert page.empty_state.heading_label.text() == "No domain to set up yet"
    with qtbot.waitSignal(page.navigate) as jumped:
        qtbot.mouseClick(page.empty_state.button, Qt.MouseButton.LeftButton)
    assert jumped.args == [Tab.DOMAINS, ""]


def test_tracking_is_on_by_default_and_explained(
    qapp: QApplication, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    assert page.domain_combo.currentText() == DOMAIN
    for feature in ("open", "click"):
        row = page.toggles[feature]  # type: ignore[index]
        assert row.checked
        assert pending_line(page, feature) == ""
    assert "image" in page.toggles["open"].explanation_label.text()  # type: ignore[index]
    assert "link" in page.toggles["click"].explanation_label.text()  # type: ignore[index]
    assert "not to single messages" in page.tracking_note.text()
    assert "15 minutes" in page.tracking_note.text()


def test_tracking_without_a_verified_tracking_address_says_why_it_is_not_applied(
    qapp: QApplication, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    warning = page.tracking_warning
    assert warning.isVisible()
    assert warning.text().startswith("Tracking is on, but not applied yet. ")
    assert f"track.{DOMAIN}" in warning.text()

    with store.session() as s:
        domain_id = get_domain(s, DOMAIN).id
        s.add(
            DomainRecord(
                domain_id=domain_id,
                kind="tracking",
                type="CNAME",
                host=f"track.{DOMAIN}",
                value="track.postdesk-host.example",
                required=False,
            )
        )
    run_on_qt_loop(qapp, page.load_domain())
    assert "press Verify Now" in warning.text(), "published, not verified yet"

    with store.session() as s:
        s.query(DomainRecord).filter_by(kind="tracking").update({"status": "ok"})
    run_on_qt_loop(qapp, page.load_domain())
    assert not warning.isVisible(), "a verified tracking address: tracking applies"


def test_turning_open_tracking_off_waits_and_turning_it_back_cancels(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    switch = page.toggles["open"].switch  # type: ignore[index]

    click_and_wait(  # saved off the GUI thread
        qapp,
        lambda: qtbot.mouseClick(switch, Qt.MouseButton.LeftButton),
        lambda: pending_line(page, "open") != "",
    )

    state = tracking.tracking_state(store, DOMAIN)["open"]
    assert state.enabled is True, "the change waits for the propagation delay"
    assert state.pending is not None and state.pending.enabled is False
    assert not switch.isChecked(), "the toggle shows what the user asked for"
    line = pending_line(page, "open")
    local = state.pending.effective_at.astimezone().strftime("%H:%M")
    assert line.startswith(f"Open tracking will turn off at {local} (in 15 min).")
    assert line.endswith("Until then it stays on.")
    assert pending_line(page, "click") == ""
    assert page.countdown.isActive()

    click_and_wait(
        qapp,
        lambda: qtbot.mouseClick(switch, Qt.MouseButton.LeftButton),
        lambda: pending_line(page, "open") == "",
    )

    state = tracking.tracking_state(store, DOMAIN)["open"]
    assert state.enabled is True and state.pending is None
    assert switch.isChecked()
    assert pending_line(page, "open") == ""
    assert not page.countdown.isActive()


def test_countdown_counts_down_and_disappears_when_the_change_takes_effect(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    switch = page.toggles["click"].switch  # type: ignore[index]
    click_and_wait(
        qapp,
        lambda: qtbot.mouseClick(switch, Qt.MouseButton.LeftButton),
        lambda: pending_line(page, "click") != "",
    )
    effective_at = tracking.tracking_state(store, DOMAIN)["click"].pending.effective_at  # type: ignore[union-attr]

    page.render_tracking(effective_at - dt.timedelta(minutes=4, seconds=30))
    assert "(in 5 min)" in pending_line(page, "click")

    page.render_tracking(effective_at + dt.timedelta(seconds=1))
    assert pending_line(page, "click") == ""
    assert not switch.isChecked(), "click tracking is now off"
    assert not page.countdown.isActive()


def service_of(store: Store) -> str | None:
    with store.session() as s:
        service_id = get_domain(s, DOMAIN).service_id
        service = s.get(SmtpService, service_id) if service_id is not None else None
        return service.name if service is not None else None


def published_spf(store: Store) -> str:
    _, records = expected_records(store, DOMAIN)
    [spf] = [r.value for r in records if r.kind == "spf"]
    return spf


def pick_next_service(qtbot: Any, page: DomainSettingsPage) -> None:
    page.service_combo.setFocus()
    qtbot.keyClick(page.service_combo, Qt.Key.Key_Down)  # the user picks the next entry


def test_choosing_another_service_asks_first_and_shows_the_new_spf_value(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    sendgrid = add_service(store, "SendGrid", "sendgrid.net", default=True)
    add_service(store, "Mailgun", "mailgun.org")
    add_domain_sending_through(store, sendgrid)
    attach(qapp, page, store)
    combo = page.service_combo
    assert combo.currentText() == "SendGrid (default)"

    async def choose_and_confirm() -> str:
        pick_next_service(qtbot, page)
        await wait_for(lambda: dialogs_of(ChangeServiceDialog))
        [dialog] = dialogs_of(ChangeServiceDialog)
        assert combo.currentText() == "SendGrid (default)", "nothing changes before the answer"
        assert service_of(store) == "SendGrid"
        assert "Send mail from example.com through Mailgun?" in visible_texts(dialog)
        new_spf = dialog.spf_field.value()
        assert "include:mailgun.org" in new_spf and "sendgrid.net" not in new_spf
        dialog.spf_field.copy_button.click()
        assert QGuiApplication.clipboard().text() == new_spf
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Return)
        await wait_for(lambda: combo.currentText() == "Mailgun" and combo.isEnabled())
        return new_spf

    new_spf = run_on_qt_loop(qapp, choose_and_confirm())
    assert service_of(store) == "Mailgun"
    assert published_spf(store) == new_spf
    notice = page.banner
    assert notice.message_label.text() == f"Mail from {DOMAIN} now goes through Mailgun."
    assert "Verify Now" in notice.hint_label.text()
    assert page.spf_field.isVisible() and page.spf_field.value() == new_spf
    page.spf_field.copy_button.click()
    assert QGuiApplication.clipboard().text() == new_spf
    with qtbot.waitSignal(page.navigate) as jumped:
        qtbot.mouseClick(notice.action_button, Qt.MouseButton.LeftButton)
    assert jumped.args == [Tab.DOMAINS, DOMAIN]


def test_cancelling_the_service_change_keeps_the_old_service(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    sendgrid = add_service(store, "SendGrid", "sendgrid.net", default=True)
    add_service(store, "Mailgun", "mailgun.org")
    add_domain_sending_through(store, sendgrid)
    attach(qapp, page, store)

    async def choose_and_cancel() -> None:
        pick_next_service(qtbot, page)
        await wait_for(lambda: dialogs_of(ChangeServiceDialog))
        [dialog] = dialogs_of(ChangeServiceDialog)
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
        await wait_for(lambda: not dialogs_of(ChangeServiceDialog))

    run_on_qt_loop(qapp, choose_and_cancel())
    assert page.service_combo.currentText() == "SendGrid (default)"
    assert service_of(store) == "SendGrid"
    assert published_spf(store) == "v=spf1 include:sendgrid.net ~all"
    assert not page.banner.isVisible() and not page.spf_field.isVisible()


def test_tab_moves_past_the_dkim_keys_table(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store, secret_service: str
) -> None:
    add_domain_with_key(store)
    attach(qapp, page, store)
    page.key_table.setFocus()
    qtbot.keyClick(page.key_table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is page.generate_button


def test_bad_reply_to_is_explained_under_the_field_and_a_good_one_is_saved(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    qtbot.keyClicks(page.reply_to_edit, "hello at example.com")
    click_and_wait(
        qapp,
        lambda: qtbot.mouseClick(page.reply_to_save, Qt.MouseButton.LeftButton),
        page.reply_to_error.isVisible,
    )

    assert page.reply_to_error.isVisible()
    assert "has no @ in it" in page.reply_to_error.text()
    assert "name@example.com" in page.reply_to_error.text()
    with store.session() as s:
        assert get_domain(s, DOMAIN).reply_to is None

    page.reply_to_edit.clear()
    qtbot.keyClicks(page.reply_to_edit, "Hello@Example.COM")
    assert not page.reply_to_error.isVisible(), "typing again clears the old complaint"
    click_and_wait(
        qapp,
        lambda: qtbot.keyClick(page.reply_to_edit, Qt.Key.Key_Return),
        lambda: page.reply_to_status.text().startswith("Saved."),
    )

    with store.session() as s:
        assert get_domain(s, DOMAIN).reply_to == "Hello@example.com"
    assert page.reply_to_edit.text() == "Hello@example.com"
    assert page.reply_to_status.text().startswith("Saved. Replies go to Hello@example.com")


def add_domain_with_key(store: Store) -> str:
    """A domain as Add & Verify leaves it: one real DKIM key, its private half in the keyring."""
    key = dkimkeys.generate_dkim_key()
    ref = secrets.new_secret_ref("dkim")
    secrets.store_secret(ref, key.private_pem)
    with store.session() as s:
        domain = DedicatedDomain(
            name=DOMAIN, ownership_token="t", dkim_selector=key.selector, status="verified"
        )
        domain.dkim_keys = [
            DkimKey(
                selector=key.selector,
                bits=key.bits,
                public_key=key.public_b64,
                secret_ref=ref,
                created_at=utcnow() - dt.timedelta(days=30),
            )
        ]
        s.add(domain)
    return key.selector


def table_rows(page: DomainSettingsPage) -> list[list[str]]:
    table = page.key_table
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def test_generate_new_key_adds_a_key_waiting_for_dns(
    qapp: QApplication, qtbot: Any, page: DomainSettingsPage, store: Store, secret_service: str
) -> None:
    old = add_domain_with_key(store)
    attach(qapp, page, store)
    assert [(row[0], row[1], row[3]) for row in table_rows(page)] == [(old, "2048-bit", "Active")]

    async def press_generate() -> None:
        qtbot.mouseClick(page.generate_button, Qt.MouseButton.LeftButton)
        await wait_for(lambda: page.generate_status.text() == "Making a new key…")
        assert not page.generate_button.isEnabled(), "no second key while one is being made"
        await wait_for(lambda: page.key_table.rowCount() == 2, timeout=60)
        await wait_for(lambda: not page.generate_status.text().startswith("Making"))

    run_on_qt_loop(qapp, press_generate())

    new, current = table_rows(page)
    assert new[0] != old
    assert (new[1], new[3]) == ("2048-bit", "Waiting for DNS")
    assert (current[0], current[3]) == (old, "Active")
    assert new[0] in page.generate_status.text()
    assert "Verify Now" in page.generate_status.text()
    _, records = expected_records(store, DOMAIN)
    assert f"{new[0]}._domainkey.{DOMAIN}" in [r.host for r in records if r.kind == "dkim"]
    with store.session() as s:
        domain_id = get_domain(s, DOMAIN).id
        [pending] = s.query(DkimKey).filter_by(domain_id=domain_id, state="pending").all()
        ref = pending.secret_ref
    assert secrets.read_secret(ref) is not None, "the new private key is in the keyring"
    assert not page.generate_button.isEnabled(), "one rotation at a time"


def test_show_domain_selects_it_in_the_picker(
    qapp: QApplication, page: DomainSettingsPage, store: Store
) -> None:
    add_verified_domain(store, "a-shop.example")
    add_verified_domain(store, DOMAIN)
    page.show_domain(DOMAIN)  # asked before the workspace arrived: remembered
    attach(qapp, page, store)
    assert page.domain_combo.currentText() == DOMAIN
    click_and_wait(  # the chosen domain's details load off the GUI thread
        qapp, lambda: page.show_domain("a-shop.example"), lambda: not running_tasks()
    )
    assert page.domain_combo.currentText() == "a-shop.example"
    assert page.domain == "a-shop.example"


def test_at_900_px_the_setting_explanations_are_shown_whole(qapp, page, store) -> None:
    service_id = add_service(store, "SendGrid", "sendgrid.net", default=True)
    add_domain_sending_through(store, service_id)
    page.resize(900, 700)
    attach(qapp, page, store)
    QApplication.processEvents()
    rows = [page.one_click, *page.toggles.values()]
    for row in rows:
        text = row.explanation_label
        assert text.height() >= text.heightForWidth(text.width()), text.text()[:40]
