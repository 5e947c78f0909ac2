"""The Conversations tab on a workspace filled through core: threads, reading, search, safe HTML,
attachments, replies, and new mail showing up while the page is on screen."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QApplication, QFileDialog

from postdesk.core import conversations
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, SmtpService
from postdesk.gui.tabs.conversations import ConversationsPage
from postdesk.gui.tabs.conversations_message import MessageCard
from postdesk.resources_path import resource_path
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

DOMAIN = "example.com"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "inbound"
# A real PNG (one of Postdesk's own icons) for the sender's web server to serve.
PIXEL = resource_path("icons/empty-domain.png").read_bytes()


# --- the workspace ------------------------------------------------------------------------------


def receive(store: Store, raw: bytes, **verdicts: str) -> int:
    """File a message as the inbound server does (its own transaction, committed)."""
    with store.session() as s:
        domain = s.query(DedicatedDomain).filter_by(name=DOMAIN).one()
        return conversations.file_inbound(
            s,
            domain_id=domain.id,
            raw=raw,
            mail_from="sender@outside.example",
            rcpt_tos=[f"support@{DOMAIN}"],
            remote_ip="192.0.2.7",
            helo="mail.outside.example",
            verdicts={"spf": "pass", "dkim": "pass", "dmarc": "pass", **verdicts},
            auth_results="mx.example.com; spf=pass",
        )


def mail(subject: str, text: str, *, sender: str = "Ann Lee <ann@outside.example>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"support@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((subject, text)))}@outside.example>"
    msg.set_content(text)
    return msg


def html_mail(image_url: str) -> bytes:
    msg = mail("Newsletter", "Plain version")
    msg.add_alternative(
        "<html><body><p>Big <b>news</b></p>"
        "<script>document.title = 'pwned'</script>"
        f'<img src="{image_url}" alt="banner">'
        "</body></html>",
        subtype="html",
    )
    return msg.as_bytes(policy=SMTP)


@pytest.fixture
def domain(store: Store) -> str:
    with store.session() as s:
        service = SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="tls")
        s.add(service)
        s.flush()
        service_id = service.id
    add_verified_domain(store, DOMAIN, service_id=service_id)
    with store.session() as s:
        s.query(DedicatedDomain).filter_by(name=DOMAIN).one().reception = True
    return DOMAIN


@pytest.fixture
def page(qtbot: Any) -> ConversationsPage:
    widget = ConversationsPage()
    qtbot.addWidget(widget)
    widget.resize(900, 700)  # the narrow window the page must stay readable in
    widget.show()
    return widget


def attach(qapp: QApplication, page: ConversationsPage, store: Store) -> ConversationsPage:
    run_on_qt_loop(qapp, page.attach(store))
    return page


def act(qapp: QApplication, action: Any, until: Any) -> None:
    """Do ``action`` on the running loop (its slots start tasks there), then wait for ``until``."""

    async def go() -> None:
        action()
        await wait_for(until)

    run_on_qt_loop(qapp, go())


def subjects(page: ConversationsPage) -> list[str]:
    return [row.subject_label.text() for row in page.thread_list.rows()]


def open_thread(qapp: QApplication, page: ConversationsPage, index: int) -> None:
    thread_id = page.thread_list.rows()[index].thread_id
    act(
        qapp,
        lambda: page.thread_list.setCurrentRow(index),
        lambda: page.thread_panel.thread_id == thread_id and bool(page.thread_panel.cards),
    )


@pytest.fixture
def image_server() -> Iterator[tuple[str, list[str]]]:
    """A real web server with one image; yields its address and the paths asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PIXEL)))
            self.end_headers()
            self.wfile.write(PIXEL)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/banner.png", asked
    finally:
        server.shutdown()
        server.server_close()


# --- the tests ----------------------------------------------------------------------------------


def test_without_reception_the_page_offers_to_turn_it_on(qapp, page, store) -> None:
    from postdesk.core import settings

    add_verified_domain(store, DOMAIN)  # verified, but its mail is not received
    attach(qapp, page, store)
    offer = page.no_domains_view
    assert page.stack.currentWidget() is offer
    assert "postdesk domain reception DOMAIN --on" in page.no_domains.text_label.text()
    assert offer.domain_combo.currentData() == DOMAIN
    act(qapp, offer.turn_on_button.click, page.banner.isVisible)
    assert "host name senders should deliver" in page.banner.message_label.text()
    assert page.stack.currentWidget() is offer, "nothing changed"

    with store.session() as s:
        settings.put(s, "mx_target", "mx.postdesk-host.example")
    act(qapp, offer.turn_on_button.click, lambda: page.domain == DOMAIN)
    assert "now receives mail for example.com" in page.banner.message_label.text()
    assert "mx.postdesk-host.example" in page.banner.hint_label.text()


def test_with_no_verified_domain_the_page_says_where_to_start(qapp, page, store) -> None:
    attach(qapp, page, store)
    assert page.stack.currentWidget() is page.no_domains_view
    assert not page.no_domains_view.offer.isVisible()
    assert "Add your domain" in page.no_domains.text_label.text()


def test_threads_newest_first_unread_bold_then_read_on_open(qapp, page, store, domain) -> None:
    for name in ("list-1.eml", "list-2.eml", "list-3.eml"):
        receive(store, (FIXTURES / name).read_bytes())
    receive(store, mail("Invoice 1042", "Please find the invoice.").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    assert page.stack.currentIndex() == 1
    assert page.domain_combo.currentData() == DOMAIN
    assert subjects(page)[0] == "Invoice 1042", "the newest conversation is on top"
    assert len(subjects(page)) == 2, "the mailing-list replies are one conversation"
    rows = page.thread_list.rows()
    assert all(row.unread for row in rows)
    assert rows[0].subject_label.font().bold()
    assert rows[0].sender_label.text() == "Ann Lee"
    assert "invoice" in rows[0].snippet_label.text()

    open_thread(qapp, page, 1)
    panel = page.thread_panel
    assert len(panel.cards) == 3
    assert panel.count_label.text() == "3 messages"
    assert not page.thread_list.rows()[1].subject_label.font().bold()
    assert "new" not in page.thread_list.rows()[1].count_label.text(), "read: no 'N new' left"
    assert conversations.get_thread(store, panel.thread_id).unread_count == 0
    assert page.thread_list.rows()[0].unread, "the other conversation stays unread"

    act(qapp, panel.unread_button.click, lambda: page.thread_list.rows()[1].unread)
    assert page.thread_list.rows()[1].subject_label.font().bold()
    assert conversations.get_thread(store, panel.thread_id).unread_count == 3


def test_a_long_subject_and_sender_end_in_an_ellipsis_at_900_px(qapp, page, store, domain) -> None:
    subject = "Your order 100234 has shipped and is on its way to the parcel shop near you"
    sender = "Annabelle Leeuwenhoek-Vandermeer <annabelle@outside.example>"
    receive(store, mail(subject, "Where is my parcel? " * 20, sender=sender).as_bytes())
    attach(qapp, page, store)
    row = page.thread_list.rows()[0]
    QApplication.processEvents()
    assert row.subject_label.text() == subject, "the whole subject is kept"
    assert row.subject_label.is_elided(), "the list is narrower than the subject at 900 px"
    assert subject in row.toolTip()
    time_right = row.time_label.geometry().right()
    assert 0 < time_right <= row.width(), "the time stays in view"


def test_verdicts_show_as_badges(qapp, page, store, domain) -> None:
    receive(store, mail("Spoofed?", "Pay now").as_bytes(policy=SMTP), dkim="fail", dmarc="fail")
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    badges = page.thread_panel.cards[0].badges
    assert badges["SPF"].text() == "SPF pass" and badges["SPF"].state == "ok"
    assert badges["DKIM"].text() == "DKIM fail" and badges["DKIM"].state == "failed"
    assert badges["DMARC"].state == "failed"


def test_search_filters_the_list_after_typing_stops(qapp, page, store, domain) -> None:
    receive(store, mail("Invoice 1042", "Please find the invoice.").as_bytes(policy=SMTP))
    receive(
        store, mail("Lunch", "Pizza on Friday?", sender="bo@else.example").as_bytes(policy=SMTP)
    )
    attach(qapp, page, store)
    assert len(subjects(page)) == 2
    act(qapp, lambda: page.search_edit.setText("pizza"), lambda: subjects(page) == ["Lunch"])
    act(
        qapp,
        lambda: page.search_edit.setText("ann@outside.example"),
        lambda: subjects(page) == ["Invoice 1042"],
    )
    act(
        qapp,
        lambda: page.search_edit.setText("nothingmatcheshere"),
        lambda: page.list_stack.currentWidget() is page.no_threads,
    )
    assert "nothingmatcheshere" in page.no_threads.text_label.text()
    act(qapp, page.search_edit.clear, lambda: len(subjects(page)) == 2)


def test_script_never_runs_and_remote_images_wait_for_show_images(
    qapp, page, store, domain, image_server
) -> None:
    url, asked = image_server
    receive(store, html_mail(url))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    card = page.thread_panel.cards[0]
    html = card.browser.toHtml()
    assert "Big" in card.browser.toPlainText()
    assert "script" not in html.lower() and "pwned" not in html
    assert url not in html
    assert asked == [], "nothing was fetched from the sender's server"
    assert card.images_button.isVisible()

    act(qapp, card.show_images, lambda: asked == ["/banner.png"] and card.images_button.isHidden())
    assert url in card.browser.toHtml()
    assert url in card.browser.remote_images, "the image was fetched, off the GUI thread"
    assert card.browser.loadResource(2, QUrl(url)) is not None
    assert not card.images_note.isVisible()


def test_an_attachment_is_saved_where_the_user_chose(qapp, page, store, domain, tmp_path) -> None:
    msg = mail("Contract", "Signed copy attached.")
    msg.add_attachment(
        b"%PDF-1.4 signed", maintype="application", subtype="pdf", filename="contract.pdf"
    )
    receive(store, msg.as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    card: MessageCard = page.thread_panel.cards[0]
    assert [b.accessibleName() for b in card.save_buttons] == ["Save contract.pdf"]
    attachment = card.message.attachments[0]
    chooser = card.ask_where_to_save(attachment)
    assert chooser in dialogs_of(QFileDialog), "a chooser opens; the file is not opened"
    target = tmp_path / "saved.pdf"
    # Saved is said once the file is written whole (it exists, empty, a moment before).
    act(
        qapp,
        lambda: chooser.fileSelected.emit(str(target)),
        lambda: str(target) in page.banner.message_label.text(),
    )
    assert target.read_bytes() == b"%PDF-1.4 signed"
    chooser.close()


def test_a_reply_is_queued_and_shows_in_the_thread(qapp, page, store, domain) -> None:
    receive(store, mail("Question", "Do you ship to Norway?").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    panel = page.thread_panel
    assert panel.from_combo.currentText() == f"support@{DOMAIN}"
    assert not panel.send_button.isEnabled(), "nothing to send yet"
    panel.reply_edit.setPlainText("Yes, in 3 days.")
    act(qapp, panel.send_button.click, lambda: len(panel.cards) == 2)
    reply = panel.cards[1]
    assert reply.message.direction == "out"
    assert "Yes, in 3 days." in reply.browser.toPlainText()
    assert "> Do you ship to Norway?" in reply.browser.toPlainText()
    assert "queued" in page.banner.message_label.text()
    with store.session() as s:
        queued = s.query(QueuedMessage).filter_by(source="reply").one()
        assert queued.rcpt_tos == ["ann@outside.example"]
    assert panel.reply_edit.toPlainText() == ""
    # The list still says who the conversation is with, not the domain's own address.
    run_on_qt_loop(qapp, page.reload_threads())
    assert page.thread_list.rows()[0].sender_label.text() == "Ann Lee"


def test_ctrl_enter_in_the_reply_sends_it(qapp, qtbot, page, store, domain) -> None:
    from PySide6.QtCore import Qt

    receive(store, mail("Question", "Do you ship to Norway?").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    panel = page.thread_panel
    panel.reply_edit.setFocus()
    qtbot.keyClicks(panel.reply_edit, "Yes.")
    control = Qt.KeyboardModifier.ControlModifier
    act(
        qapp,
        lambda: qtbot.keyClick(panel.reply_edit, Qt.Key.Key_Return, control),
        lambda: len(panel.cards) == 2,
    )
    assert "Yes." in panel.cards[1].browser.toPlainText()
    assert panel.reply_edit.toPlainText() == ""


def test_a_refused_reply_says_why_and_keeps_the_text(qapp, page, store, domain) -> None:
    receive(store, mail("Question", "Do you ship to Norway?").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    panel = page.thread_panel
    panel.from_combo.setEditText("me@not-ours.example")
    panel.reply_edit.setPlainText("Yes.")
    act(
        qapp,
        panel.send_button.click,
        lambda: "is not on example.com" in page.banner.message_label.text(),
    )
    assert page.banner.level == "error"
    assert panel.reply_edit.toPlainText() == "Yes."
    assert len(panel.cards) == 1


def test_new_mail_appears_while_the_page_is_on_screen(qapp, page, store, domain) -> None:
    receive(store, mail("First", "one").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    first = page.thread_list.rows()[0].thread_id
    receive(store, mail("Second", "two").as_bytes(policy=SMTP))

    async def poll_once() -> None:
        page.watch.poll_now()
        await wait_for(lambda: subjects(page) == ["Second", "First"])

    run_on_qt_loop(qapp, poll_once())
    assert page.thread_panel.thread_id == first, "the open conversation stays open"
    assert page.thread_list.current_thread() == first


def test_an_inline_image_of_the_message_itself_is_shown(qapp, page, store, domain) -> None:
    msg = mail("Our new logo", "See the logo.")
    msg.add_alternative('<p>Logo:</p><img src="cid:logo@shop.example">', subtype="html")
    msg.get_payload()[1].add_related(
        PIXEL, maintype="image", subtype="png", cid="<logo@shop.example>"
    )
    receive(store, msg.as_bytes(policy=SMTP))
    attach(qapp, page, store)
    panel = page.thread_panel

    def inline_image_read() -> bool:
        return bool(panel.cards) and "logo@shop.example" in panel.cards[0].browser.inline_parts

    act(qapp, lambda: page.thread_list.setCurrentRow(0), inline_image_read)
    card = panel.cards[0]
    assert not card.images_button.isVisible(), "nothing remote to ask about"
    assert card.browser.loadResource(2, QUrl("cid:logo@shop.example")) is not None
    assert card.browser.remote_requests == []


def test_tab_leaves_the_reply_and_reaches_send(qapp, qtbot, page, store, domain) -> None:
    from PySide6.QtCore import Qt

    receive(store, mail("Question", "Do you ship to Norway?").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    open_thread(qapp, page, 0)
    panel = page.thread_panel
    panel.reply_edit.setPlainText("Yes.")
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    panel.reply_edit.setFocus()
    qtbot.keyClick(panel.reply_edit, Qt.Key.Key_Tab)
    assert panel.reply_edit.toPlainText() == "Yes.", "Tab typed nothing into the reply"
    assert panel.send_button.hasFocus()


def test_the_domain_menu_opens_the_domain_here(qapp, qtbot, store, domain) -> None:
    from postdesk.gui.mainwindow import MainWindow
    from postdesk.gui.tabs import Tab
    from postdesk.gui.tabs.domains import DomainsPage

    add_verified_domain(store, "other.example")  # verified, but its mail is not received
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    run_on_qt_loop(qapp, window.attach_store(store))
    domains_page = window.page(Tab.DOMAINS)
    assert isinstance(domains_page, DomainsPage)
    page = window.page(Tab.CONVERSATIONS)
    assert isinstance(page, ConversationsPage)

    async def open_from_menu(name: str, until: Any) -> None:
        domains_page.actions.conversations(name)
        await wait_for(lambda: window.current_page() is page and until())

    run_on_qt_loop(qapp, open_from_menu(DOMAIN, lambda: page.domain == DOMAIN))
    assert not page.banner.isVisible()
    run_on_qt_loop(qapp, open_from_menu("other.example", page.banner.isVisible))
    assert page.domain == DOMAIN, "the receiving domain stays on screen"
    assert "does not receive mail for other.example" in page.banner.message_label.text()

    async def forwarding_from_menu() -> Any:
        dialog = domains_page.actions.forwarding(DOMAIN)
        await wait_for(lambda: dialog.stack.currentWidget() is dialog.empty)
        return dialog

    dialog = run_on_qt_loop(qapp, forwarding_from_menu())
    assert dialog.isVisible() and dialog.domain == DOMAIN
    dialog.close()
    window.close()


def test_mail_received_while_the_tab_was_hidden_shows_when_it_is_shown(
    qapp, page, store, domain
) -> None:
    receive(store, mail("First", "one").as_bytes(policy=SMTP))
    attach(qapp, page, store)
    page.hide()
    receive(store, mail("Second", "two").as_bytes(policy=SMTP))
    act(qapp, page.show, lambda: subjects(page) == ["Second", "First"])


def test_reception_turned_on_elsewhere_shows_the_domain(qapp, page, store) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    assert page.stack.currentWidget() is page.no_domains_view
    with store.session() as s:  # as `postdesk domain reception example.com --on` does
        s.query(DedicatedDomain).filter_by(name=DOMAIN).one().reception = True
    act(qapp, page.watch.poll_now, lambda: page.list_stack.currentWidget() is page.no_threads)
    assert page.stack.currentIndex() == 1
    assert page.domain == DOMAIN
    assert "support" not in page.no_threads.text_label.text()
    assert "@example.com" in page.no_threads.text_label.text()
