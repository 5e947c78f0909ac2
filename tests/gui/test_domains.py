"""Dedicated Domain And IP, walked like a user: add a domain, copy its records, publish them in a
real DNS server (NSD), Verify Now, read the problems; check an IP; diagnose any domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from postdesk.core import domains, recordgen, secrets, settings
from postdesk.core.records import ExpectedRecord
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DkimKey, SmtpService, utcnow
from postdesk.gui.dialogs.add_domain import AddDomainDialog
from postdesk.gui.dialogs.add_ip import AddIpDialog
from postdesk.gui.dialogs.diagnose import DiagnoseDialog
from postdesk.gui.mainwindow import MainWindow
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.domains import DomainsPage
from postdesk.gui.widgets.ip_panel import NOT_QUERIED
from support.nsd import txt
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

SHOP = "shop.test"
EXISTING = '@ IN TXT "v=spf1 ip4:198.51.100.7 -all"\n@ IN MX 10 mail.shop.test.\n'
MAIL_HOST = "mail IN A 192.0.2.30\n"


def publish(records: list[ExpectedRecord], skip: str = "") -> str:
    """Zone lines for the records Postdesk generated, exactly as given (relative to shop.test)."""
    lines = []
    for record in records:
        if record.kind == skip or not record.required:
            continue
        host = record.host.removesuffix(SHOP).rstrip(".") or "@"
        value = txt(record.value) if record.type == "TXT" else record.value + "."
        lines.append(f"{host} IN {record.type} {value}")
    return "\n".join(lines) + "\n" + MAIL_HOST


def only(kind: type) -> Any:
    found = dialogs_of(kind)
    assert len(found) == 1, f"expected one {kind.__name__}, found {len(found)}"
    return found[0]


def clipboard() -> str:
    return QGuiApplication.clipboard().text()


@pytest.fixture
def page(qtbot: Any) -> Iterator[DomainsPage]:
    widget = DomainsPage()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    for kind in (AddDomainDialog, AddIpDialog, DiagnoseDialog, QMessageBox):
        for dialog in dialogs_of(kind):
            dialog.close()


def attach(qapp: QApplication, page: DomainsPage, store: Store) -> None:
    run_on_qt_loop(qapp, page.attach(store))


def add_through_core(qapp: QApplication, store: Store, name: str = SHOP) -> None:
    run_on_qt_loop(qapp, domains.add_domain(store, name))


def test_empty_state_explains_the_steps_and_opens_add_domain(qapp, page, store) -> None:
    attach(qapp, page, store)
    assert page.empty_state.isVisible()
    steps = page.steps_label.text()
    assert page.steps_label.isVisible()
    assert "Add Domain" in steps and "Publish" in steps and "Verify Now" in steps
    assert page.empty_state.button is not None
    page.empty_state.button.click()
    dialog = only(AddDomainDialog)
    assert not dialog.add_button.isEnabled(), "nothing typed yet"
    assert dialog.add_button.text().replace("&&", "&") == "Add & Verify"


def test_add_domain_preselects_the_default_service(qapp, page, store) -> None:
    with store.session() as s:
        for name, default in (("Mailgun", False), ("SendGrid", True)):
            s.add(SmtpService(name=name, host="smtp.x.test", port=587, security="starttls",
                              is_default=default))  # fmt: skip
    attach(qapp, page, store)
    page.add_button.click()
    dialog = only(AddDomainDialog)
    assert dialog.service_name() == "SendGrid"
    assert not dialog.service_note.isVisible()


def test_add_copy_publish_and_verify(qapp, page, store, secret_service, nsd) -> None:
    nsd.serve({SHOP: EXISTING + MAIL_HOST})
    attach(qapp, page, store)
    detail, table = page.detail, page.detail.table

    async def walk() -> None:
        page.add_button.click()
        dialog = only(AddDomainDialog)
        dialog.domain_edit.setText("https://shop.test/store")
        assert dialog.message.isVisible()
        assert "is a web address, not a domain name" in dialog.message.text()
        assert dialog.hint.text() == "Type just the domain, e.g. shop.test."
        assert not dialog.add_button.isEnabled()
        dialog.domain_edit.setText("shop.test")
        assert not dialog.message.isVisible() and dialog.add_button.isEnabled()
        assert dialog.service_note.isVisible(), "no service yet: the dialog says what that means"
        dialog.add_button.click()
        await wait_for(lambda: detail.name == SHOP and table.records)
        assert page.banner.message_label.text() == "shop.test added. Now publish its DNS records."

        _, expected = domains.expected_records(store, SHOP)
        rows = range(len(table.records))
        assert [table.host_text(r) for r in rows] == [e.host for e in expected]
        assert {table.status_text(r) for r in rows} == {"Not checked yet"}
        assert page.rows[SHOP].badge.text() == "Pending"
        assert page.rows[SHOP].checked_label.text() == "not checked yet"
        spf = expected[table.row_of("spf")]
        assert spf.value == "v=spf1 ip4:198.51.100.7 -all", "the SPF already published is kept"

        dkim_row = table.row_of("dkim")
        dkim = expected[dkim_row]
        table.value_copy_button(dkim_row).click()
        assert clipboard() == dkim.value
        assert table.value_copy_button(dkim_row).text() == "Copied"
        assert table.value_widget(dkim_row).text() == dkim.value, "shown whole, wrapped"

        detail.copy_all_button.click()
        assert clipboard() == recordgen.zone_snippet(expected)
        assert "_dmarc" in detail.tip_label.text()

        dmarc_row = table.row_of("dmarc")
        detail.short_toggle.setChecked(True)
        assert table.host_text(dmarc_row) == "_dmarc"
        table.host_copy_button(dmarc_row).click()
        assert clipboard() == "_dmarc"
        detail.short_toggle.setChecked(False)

        # Published without DKIM: Failing, with the problem and its fix.
        nsd.serve({SHOP: publish(expected, skip="dkim")}, serial=2)
        detail.verify_button.click()
        await wait_for(lambda: detail.badge.text() == "Failing")
        assert detail.verify_button.isEnabled()
        assert table.status_text(dkim_row) == "Missing"
        assert table.status_text(table.row_of("ownership")) == "OK"
        assert "dkim.missing" in detail.problems.codes()
        item = detail.problems.items[detail.problems.codes().index("dkim.missing")]
        assert item.fix_label.text() == (
            f"What to do: Add a TXT record at {dkim.host} with the DKIM value Postdesk shows."
        )
        assert dkim.host in item.code_label.text()
        assert "1 problem to fix" in detail.checked_label.text()
        assert not detail.broke_banner.isVisible(), "never verified, so nothing broke"

        nsd.serve({SHOP: publish(expected)}, serial=3)
        detail.verify_button.click()
        await wait_for(lambda: detail.badge.text() == "Verified")
        required = [r for r in rows if table.records[r].required]
        assert {table.status_text(r) for r in required} == {"OK"}
        assert "dkim.missing" not in detail.problems.codes()
        assert page.rows[SHOP].badge.text() == "Verified"
        assert page.rows[SHOP].checked_label.text() == "checked just now"
        history = detail.history_label.text().splitlines()
        assert [line.rsplit(" — ", 1)[1] for line in history] == ["Verified", "Failing"]
        # "Now publish its records" is done: the banner shows the next step instead.
        assert page.banner.message_label.text() == (
            "shop.test is verified. Next: create an SMTP user for each app that sends from it."
        )
        jumps: list[list[object]] = []
        page.navigate.connect(lambda tab, name: jumps.append([tab, name]))
        assert page.banner.action_button.text() == "Create SMTP users"
        page.banner.action_button.click()
        assert jumps == [[Tab.SMTP_SETTINGS, SHOP]]

        # The DKIM record disappears again: a verified domain that broke gets a warning.
        nsd.serve({SHOP: publish(expected, skip="dkim")}, serial=4)
        detail.verify_button.click()
        await wait_for(lambda: detail.badge.text() == "Failing")
        assert detail.broke_banner.isVisible()
        assert "was verified, but its DNS records have changed" in (
            detail.broke_banner.message_label.text()
        )

    run_on_qt_loop(qapp, walk())


def test_verify_keeps_the_window_responsive_and_can_be_cancelled(
    qapp, page, store, secret_service, nsd, silent_dns, monkeypatch
) -> None:
    nsd.serve({SHOP: EXISTING})
    add_through_core(qapp, store)
    attach(qapp, page, store)
    monkeypatch.setenv("POSTDESK_NAMESERVERS", silent_dns)  # a DNS server that never answers
    detail = page.detail

    async def walk() -> None:
        ticks: list[int] = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(1))
        timer.start()
        detail.verify_button.click()
        assert not detail.verify_button.isEnabled()
        assert detail.checking_label.text() == "Checking DNS for shop.test…"
        assert detail.cancel_button.isVisible()
        # The window keeps handling events while DNS is silent: timers fire, widgets react.
        await wait_for(lambda: len(ticks) >= 5)
        detail.short_toggle.click()
        assert detail.table.host_text(detail.table.row_of("dmarc")) == "_dmarc"
        assert page.is_verifying(SHOP)
        detail.cancel_button.click()
        await wait_for(lambda: detail.verify_button.isEnabled())
        timer.stop()
        assert not page.is_verifying(SHOP)
        assert detail.checking_label.text() == "Check cancelled; nothing was changed."
        assert not detail.cancel_button.isVisible()

    run_on_qt_loop(qapp, walk())
    assert domains.list_domains(store)[0].last_checked_at is None


def test_menu_opens_smtp_settings_for_the_domain(qapp, qtbot, page, store) -> None:
    add_verified_domain(store, "example.com")
    attach(qapp, page, store)
    menu = page.rows["example.com"].menu_button.menu()
    assert [a.text() for a in menu.actions() if a.text()] == [
        "SMTP Settings",
        "Domain Settings",
        "Activity",
        "Conversations",
        "Forwarding…",
        "Sender addresses…",
        "Verify Now",
        "Remove",
    ]
    smtp = next(a for a in menu.actions() if a.text() == "SMTP Settings")
    with qtbot.waitSignal(page.navigate) as signal:
        smtp.trigger()
    assert signal.args == [Tab.SMTP_SETTINGS, "example.com"]


def test_remove_explains_what_goes_and_deletes_the_key(
    qapp, page, store, secret_service, nsd
) -> None:
    nsd.serve({SHOP: EXISTING})
    add_through_core(qapp, store)
    with store.session() as s:
        domain_id = domains.get_domain(s, SHOP).id
        ref = s.query(DkimKey).filter_by(domain_id=domain_id).one().secret_ref
    assert secrets.read_secret(ref) is not None
    attach(qapp, page, store)

    async def walk() -> None:
        remove = next(
            a for a in page.rows[SHOP].menu_button.menu().actions() if a.text() == "Remove"
        )
        remove.trigger()
        box = only(QMessageBox)
        assert box.text() == "Remove shop.test?"
        assert "DKIM keys" in box.informativeText() and "0 SMTP users" in box.informativeText()
        next(b for b in box.buttons() if b.text() == "Remove").click()
        await wait_for(lambda: not page.summaries)

    run_on_qt_loop(qapp, walk())
    assert domains.list_domains(store) == []
    assert secrets.read_secret(ref) is None
    assert page.empty_state.isVisible()
    assert page.banner.message_label.text() == "shop.test removed."


IP_ZONES = {
    "2.0.192.in-addr.arpa": "10 IN PTR mail.shop.test.\n",
    "shop.test": "mail IN A 192.0.2.10\n",
    # An RFC 5782 list that lists 192.0.2.10; its test entry 127.0.0.2 answers as it must.
    "bl.test": (
        "2.0.0.127 IN A 127.0.0.2\n"
        "10.2.0.192 IN A 127.0.0.3\n"
        '10.2.0.192 IN TXT "Listed for sending spam"\n'
    ),
    # A list that refuses this resolver: every answer is 127.255.255.254.
    "blocked.test": "* IN A 127.255.255.254\n",
}


def test_ip_check_shows_listed_and_lists_that_could_not_be_queried(qapp, page, store, nsd) -> None:
    nsd.serve(IP_ZONES)
    with store.session() as s:
        settings.put(s, "blocklists", ["bl.test", "blocked.test"])
    attach(qapp, page, store)
    panel = page.ip_panel

    async def walk() -> None:
        page.ip_list.add_button.click()
        dialog = only(AddIpDialog)
        dialog.address_edit.setText("127.0.0.1")
        assert "is a local address" in dialog.address_message.text()
        assert not dialog.add_button.isEnabled()
        dialog.address_edit.setText("192.0.2.10")
        dialog.label_edit.setText("Main sending IP")
        assert not dialog.address_message.isVisible()
        dialog.add_button.click()
        await wait_for(lambda: panel.isVisible() and panel.lists_table.rowCount() == 2)

    run_on_qt_loop(qapp, walk())
    results = {
        panel.lists_table.item(r, 0).text(): panel.lists_table.item(r, 1).text()
        for r in range(panel.lists_table.rowCount())
    }
    assert results == {"bl.test": "Listed", "blocked.test": NOT_QUERIED}
    assert NOT_QUERIED == "This list could not be queried from here"
    assert "mail.shop.test" in panel.ptr_label.text() and "Yes" in panel.ptr_label.text()
    assert panel.problems.codes().count("ip.listed") == 1
    assert "ip.blocklist_unusable" in panel.problems.codes()
    assert page.ip_list.rows["192.0.2.10"].badge.text() == "Problems"
    assert page.ip_list.rows["192.0.2.10"].label_label.text() == "Main sending IP"


def test_diagnose_any_domain_and_copy_the_report(qapp, page, store, nsd) -> None:
    nsd.serve({"other.test": '@ IN TXT "v=spf1 +all"\n@ IN MX 10 mx.other.test.\n'})
    attach(qapp, page, store)

    async def walk() -> DiagnoseDialog:
        page.diagnose_button.click()
        dialog = only(DiagnoseDialog)
        dialog.domain_edit.setText("https://other.test/")
        assert "web address" in dialog.domain_message.text()
        assert not dialog.check_button.isEnabled()
        dialog.domain_edit.setText("other.test")
        dialog.selectors_edit.setText("s1, bad selector!")
        assert dialog.selectors_message.isVisible() and not dialog.check_button.isEnabled()
        dialog.selectors_edit.setText("s1")
        dialog.check_button.click()
        await wait_for(lambda: dialog.report is not None)
        return dialog

    dialog = run_on_qt_loop(qapp, walk())
    codes = dialog.problems.codes()
    assert {"spf.permissive_all", "dkim.missing", "dmarc.missing"} <= set(codes)
    # The same newer standards as `postdesk check`: the unsigned zone is named.
    kinds = {str(r["kind"]) for r in dialog.report["records"]}
    assert {"mta_sts", "dnssec"} <= kinds, kinds
    assert "to fix or check" in dialog.verdict_label.text()
    dialog.copy_button.click()
    report = clipboard()
    assert report.startswith("Domain diagnosis: other.test")
    assert "[error] spf.permissive_all (other.test)" in report
    assert "Fix: End the record with ~all" in report
    assert domains.list_domains(store) == [], "diagnosing stores nothing"


def test_recheck_warns_when_a_verified_domain_breaks(qapp, qtbot, store, nsd, monkeypatch) -> None:
    nsd.serve({"other.test": ""})  # example.com is not served: its records are gone
    add_verified_domain(store, "example.com")
    with store.session() as s:
        domains.get_domain(s, "example.com").next_check_at = utcnow() - dt.timedelta(minutes=1)
        s.add(DedicatedDomain(name="later.test", ownership_token="t", next_check_at=None))
    shown: list[str] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda _self, _title, text, *_args: shown.append(text)
    )
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    run_on_qt_loop(qapp, window.attach_store(store))
    page = next(p for p in window.pages if isinstance(p, DomainsPage))

    async def run() -> list[str]:
        recheck = window.context.recheck
        assert recheck is not None
        recheck.start()
        await wait_for(lambda: window.banner.isVisible())
        again = await recheck.run_due()
        recheck.stop()
        # The list is read again off the GUI thread.
        await wait_for(lambda: page.rows["example.com"].badge.text() == "Failing")
        window.banner.action_button.click()
        await wait_for(lambda: page.detail.name == "example.com")
        return again

    assert run_on_qt_loop(qapp, run()) == [], "checked once; the next check is scheduled later"
    assert window.banner.level == "warning"
    assert window.banner.message_label.text() == "example.com stopped passing its DNS check."
    assert len(shown) == 1 and shown[0].startswith("example.com stopped passing")
    assert page.rows["later.test"].checked_label.text() == "not checked yet", "not due"
    assert window.current_page() is page
    assert page.detail.broke_banner.isVisible()
