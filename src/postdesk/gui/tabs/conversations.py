"""Conversations: mail sent straight to a dedicated domain, in threads, with replies from here.

Everything the page shows is read off the GUI thread (the workspace may be a PostgreSQL server
across the network). New mail arrives from the relay, possibly in another process sharing the
workspace, so while the page is on screen a cheap poll compares the newest threads with what is
shown and redraws only when they differ.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from postdesk.core.events import Change
from postdesk.gui.asyncutil import async_slot, start_task
from postdesk.gui.poller import Poller
from postdesk.gui.qtutils import SPACE_M, SPACE_S, hbox, label, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.base import Page
from postdesk.gui.tabs.conversations_list import ThreadList
from postdesk.gui.tabs.conversations_reception import ReceptionOffer
from postdesk.gui.tabs.conversations_view import ThreadPanel
from postdesk.gui.widgets.emptystate import EmptyState

if TYPE_CHECKING:
    from postdesk.core.conversations import ThreadSummary
    from postdesk.core.store import Store
    from postdesk.core.views import DomainView
    from postdesk.gui.dialogs.dmarc_sources import DmarcSourcesDialog
    from postdesk.gui.dialogs.forwarding import ForwardingDialog
    from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog

    DomainDialog = ForwardingDialog | SenderAddressesDialog | DmarcSourcesDialog

DOMAINS_TAB = Tab.DOMAINS.title
# Typing pauses this long before the search runs, so a word is searched once, not per letter.
SEARCH_DELAY_MS = 300
# New mail shows within this long while the page is on screen (one small query per round).
POLL_MS = 4000
THREADS_SHOWN = 200
LIST_STRETCH, THREAD_STRETCH = 2, 3
LIST_MIN_WIDTH = 220


def _read_domains(store: Store) -> list[DomainView]:
    from postdesk.core.domains import list_domains

    return list_domains(store)


def _read_threads(store: Store, domain: str, search: str) -> list[ThreadSummary]:
    from postdesk.core import conversations

    return list(
        conversations.list_threads(store, domain, search=search or None, limit=THREADS_SHOWN)
    )


class NewMailWatch(Poller):
    """Reads the newest threads of the domain on screen (the page redraws when they changed),
    or, while no domain receives mail, whether one does now."""

    def __init__(self, page: ConversationsPage) -> None:
        super().__init__(lambda: page.store, POLL_MS, page)
        self.page = page

    async def round(self) -> None:
        if self.page.domain is None:
            # No receiving domain yet: reception may be turned on from the command line.
            await self.page.refresh()
        else:
            await self.page.reload_threads(quiet=True)


class ConversationsPage(Page):
    key = Tab.CONVERSATIONS
    watches = frozenset({Change.DOMAINS})
    description = (
        "Mail sent directly to addresses on your dedicated domains, grouped in conversations, "
        "with the sender's SPF, DKIM and DMARC results. Reply from here; no mailbox needed."
    )

    def build_content(self) -> QWidget:
        self._domains: dict[str, DomainView] = {}
        self._wanted: str | None = None
        self._shown_key: tuple[object, ...] | None = None
        # Each read of the list gets a number; an answer older than the last one shown is late.
        self._generation = 0
        self.watch = NewMailWatch(self)

        self.no_domains_view = ReceptionOffer()
        self.no_domains = self.no_domains_view.empty
        assert self.no_domains.button is not None
        self.no_domains.button.clicked.connect(lambda: self.navigate.emit(Tab.DOMAINS, ""))
        self.no_domains_view.turn_on.connect(self.turn_reception_on)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.no_domains_view)
        self.stack.addWidget(self._build_domain_view())
        return self.stack

    def _build_domain_view(self) -> QWidget:
        self.domain_combo = QComboBox()
        self.domain_combo.setAccessibleName("Domain")
        self.domain_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.domain_combo.currentIndexChanged.connect(self._domain_chosen)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search sender, recipients, subject and text")
        self.search_edit.setAccessibleName("Search conversations")
        self.search_edit.setClearButtonEnabled(True)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self._search_now)
        self.search_edit.textChanged.connect(lambda _text: self.search_timer.start())
        self.search_edit.returnPressed.connect(self._search_now)
        self.forwarding_button = QPushButton("Forwarding…")
        self.forwarding_button.setToolTip("Forward mail for an address (or all) to another inbox")
        self.forwarding_button.clicked.connect(self.open_forwarding)
        self.senders_button = QPushButton("Sender addresses…")
        self.senders_button.setToolTip("The From addresses your SMTP users may send as")
        self.senders_button.clicked.connect(self.open_sender_addresses)
        self.dmarc_button = QPushButton("Who sends…")
        self.dmarc_button.setToolTip(
            "Who sends as this domain, from the DMARC reports mailbox providers send"
        )
        self.dmarc_button.clicked.connect(self.open_dmarc_sources)
        top = hbox(label("Domain", wrap=False), self.domain_combo, spacing=SPACE_S)
        top.addWidget(self.search_edit, 1)
        bottom = hbox(self.forwarding_button, self.senders_button, self.dmarc_button)
        bottom.addStretch(1)

        self.thread_list = ThreadList()
        self.thread_list.setMinimumWidth(LIST_MIN_WIDTH)
        self.thread_list.thread_chosen.connect(self._thread_chosen)
        self.no_threads = EmptyState("icons/empty-domain.png", "No conversations yet", "")
        self.list_stack = QStackedWidget()
        self.list_stack.addWidget(self.thread_list)
        self.list_stack.addWidget(self.no_threads)

        self.thread_panel = ThreadPanel(self.banner)
        self.thread_panel.thread_changed.connect(self._thread_changed)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.list_stack)
        splitter.addWidget(self.thread_panel)
        splitter.setStretchFactor(0, LIST_STRETCH)
        splitter.setStretchFactor(1, THREAD_STRETCH)
        view = QWidget()
        view.setLayout(vbox(top, splitter, bottom, spacing=SPACE_M))
        return view

    # --- loading ------------------------------------------------------------------------------

    async def attach(self, store: Store) -> None:
        self.thread_panel.store = store
        await super().attach(store)
        if self.isVisible():
            self.watch.timer.start()  # the list was just read: the first round waits its turn

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.store is not None:
            # Shown again (the tab was chosen): mail may have come in while it was hidden, maybe
            # to a relay in another process that no change notification reaches.
            self.watch.timer.start()
            QTimer.singleShot(0, self.watch.poll_now)

    def hideEvent(self, event: object) -> None:
        self.watch.stop()
        super().hideEvent(event)  # type: ignore[arg-type]

    async def refresh(self) -> None:
        assert self.store is not None
        every = await asyncio.to_thread(_read_domains, self.store)
        # The domains whose mail is received (with past mail, even if no longer verified).
        found = [d for d in every if d.reception]
        self._domains = {d.name: d for d in found}
        if not found:
            self._wanted = None
            self.no_domains_view.show_domains(every)
            self.stack.setCurrentWidget(self.no_domains_view)
            return
        wanted, self._wanted = self._wanted, None
        if wanted is not None and wanted not in self._domains:
            self.banner.show_message(
                "info",
                f"Postdesk does not receive mail for {wanted} yet.",
                f"Turn reception on with `postdesk domain reception {wanted} --on` and publish "
                f"the MX record it adds on {DOMAINS_TAB}.",
            )
        candidates = (wanted, self.domain, found[0].name)
        choice = next(c for c in candidates if c in self._domains)
        self.domain_combo.blockSignals(True)
        self.domain_combo.clear()
        for domain in found:
            self.domain_combo.addItem(domain.shown, domain.name)
        self.domain_combo.setCurrentIndex(self.domain_combo.findData(choice))
        self.domain_combo.blockSignals(False)
        self.stack.setCurrentIndex(1)
        await self.reload_threads()

    @property
    def domain(self) -> str | None:
        """The stored name of the domain on screen."""
        data = self.domain_combo.currentData()
        return str(data) if data else None

    def show_domain(self, name: str) -> None:
        from postdesk.core.domains import lookup_name

        wanted = lookup_name(name)
        index = self.domain_combo.findData(wanted)
        if index >= 0:
            self.domain_combo.setCurrentIndex(index)
        else:
            self._wanted = wanted
            if self.store is not None:
                start_task(self.refresh(), banner=self.banner)

    @async_slot
    async def _domain_chosen(self, _index: int) -> None:
        self.thread_panel.clear()
        self._shown_key = None
        self.banner.clear()
        await self.reload_threads()

    def _search_now(self) -> None:
        self.search_timer.stop()
        if self.store is not None and self.domain is not None:
            start_task(self.reload_threads(), banner=self.banner)

    async def reload_threads(self, *, quiet: bool = False) -> None:
        """Read the thread list of the domain on screen (filtered by the search) and show it.

        ``quiet`` (the poll) redraws only when something changed, and then also the open thread.
        """
        name, text = self.domain, self.search_edit.text().strip()
        if self.store is None or name is None:
            return
        self._generation += 1
        generation = self._generation
        threads = await asyncio.to_thread(_read_threads, self.store, name, text)
        if generation != self._generation or name != self.domain:
            return  # the user typed on or chose another domain meanwhile: a newer read shows it
        key = (name, text, *((t.id, t.last_at, t.message_count, t.unread_count) for t in threads))
        if quiet and key == self._shown_key:
            return
        self._shown_key = key
        self.thread_list.show_threads(threads)
        if threads:
            self.list_stack.setCurrentWidget(self.thread_list)
        else:
            self._show_no_threads(name, text)
            self.list_stack.setCurrentWidget(self.no_threads)
        current = self.thread_panel.thread_id
        if quiet and current is not None and any(t.id == current for t in threads):
            await self.thread_panel.reload()

    def _show_no_threads(self, name: str, text: str) -> None:
        shown = self._domains[name].shown if name in self._domains else name
        if text:
            self.no_threads.heading_label.setText("Nothing found")
            self.no_threads.text_label.setText(
                f"No conversation on {shown} mentions “{text}” in its sender, recipients, "
                "subject or text."
            )
        else:
            self.no_threads.heading_label.setText("No conversations yet")
            self.no_threads.text_label.setText(
                f"Mail sent to any address @{shown} appears here as it arrives."
            )

    @async_slot
    async def turn_reception_on(self, name: str) -> None:
        """Receive the domain's mail from now on; say which MX record to publish."""
        from postdesk.core.inbound.reception import set_reception

        assert self.store is not None
        view = await asyncio.to_thread(set_reception, self.store, name, True)
        mx = view.mx
        self.banner.show_message(
            "info",
            f"Postdesk now receives mail for {view.domain}.",
            (f"Publish its MX record ({mx.host} MX {mx.value}) on {DOMAINS_TAB}. " if mx else "")
            + "The relay must listen for inbound mail (the inbound_listen setting).",
        )
        self._wanted = view.domain
        await self.refresh()

    # --- a thread -----------------------------------------------------------------------------

    @async_slot
    async def _thread_chosen(self, thread_id: int) -> None:
        await self.thread_panel.open_thread(thread_id)
        self.thread_list.mark_read(thread_id)

    def _thread_changed(self) -> None:
        # A reply was sent or the thread was read: the list's counts and order follow.
        start_task(self.reload_threads(), banner=self.banner)

    # --- dialogs ------------------------------------------------------------------------------

    def open_forwarding(self) -> QDialog | None:
        from postdesk.gui.dialogs.forwarding import ForwardingDialog

        return self._open(ForwardingDialog)

    def open_sender_addresses(self) -> QDialog | None:
        from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog

        return self._open(SenderAddressesDialog)

    def open_dmarc_sources(self) -> QDialog | None:
        from postdesk.gui.dialogs.dmarc_sources import DmarcSourcesDialog

        return self._open(DmarcSourcesDialog)

    def _open(self, kind: type[DomainDialog]) -> QDialog | None:
        """Open one of the domain's dialogs (non-modal) and let it read its data."""
        if self.store is None or self.domain is None:
            return None
        dialog = kind(self.store, self.domain, self)
        self.keep_open(dialog)
        dialog.load()
        return dialog
