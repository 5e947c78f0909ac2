"""SMTP Settings: the SMTP users (logins) of one verified domain and the details apps need."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import credentials, domains, smtpsettings, usage
from postdesk.core.credentials import MAX_USERS_PER_DOMAIN, NewCredentials
from postdesk.core.events import Change
from postdesk.core.services import list_services
from postdesk.core.views import DomainView, SmtpUserView
from postdesk.gui.asyncutil import async_slot, busy, run_blocking, start_task
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.dialogs.new_smtp_user import NewSmtpUserDialog, sends_through_combo
from postdesk.gui.dialogs.password_shown import PasswordShownDialog
from postdesk.gui.dialogs.reset_password import ResetPasswordDialog
from postdesk.gui.dialogs.test_send import TestSendDialog
from postdesk.gui.qtutils import SPACE_L, SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.deliverability import DeliverabilityPanel
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.stats_panel import StatsPanel, local_time

DOMAINS_TAB = Tab.DOMAINS.title
COLUMNS = ("Login name", "Created", "Last used", "Sends through", "")
LOGIN_COLUMN, CREATED_COLUMN, LAST_USED_COLUMN, SERVICE_COLUMN, ACTIONS_COLUMN = range(len(COLUMNS))
# The panel grows to fit a long host name and a Copy button, and shrinks in a small window.
PANEL_WIDTH = 400
PANEL_MIN_WIDTH = 260
# How the width is shared between the users table and the panel until the panel is full.
TABLE_STRETCH, PANEL_STRETCH = 3, 2
STATUS_WORDS = {"pending": "waiting for DNS records", "failing": "DNS check failing"}
DELETE_EXPLANATION = "Sending with this login stops immediately. Its history and statistics stay."


class SmtpSettingsPage(Page):
    key = Tab.SMTP_SETTINGS
    watches = frozenset(
        {Change.USERS, Change.USAGE, Change.DOMAINS, Change.SETTINGS, Change.SERVICES}
    )
    description = (
        "Create SMTP users for your shop, CRM or other apps, and see the server details they "
        "need to connect."
    )

    def build_content(self) -> QWidget:
        self._domains: dict[str, DomainView] = {}
        self._users: list[SmtpUserView] = []
        self._wanted: str | None = None
        self._services: list[str] = []  # every service's name, for "Sends through"

        self.no_domains = EmptyState(
            "icons/empty-logins.png",
            "No SMTP users yet",
            "Add your domain on Dedicated Domain And IP and verify it; then you can create up "
            f"to {MAX_USERS_PER_DOMAIN} SMTP users for it here.",
            button_text=f"Open {DOMAINS_TAB}",
        )
        assert self.no_domains.button is not None
        self.no_domains.button.clicked.connect(lambda: self.navigate.emit(Tab.DOMAINS, ""))

        self.domain_combo = QComboBox()
        self.domain_combo.setAccessibleName("Domain")
        self.domain_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.domain_combo.currentIndexChanged.connect(self._show_current_domain)
        picker = hbox(label("Domain", wrap=False), self.domain_combo, spacing=SPACE_S)
        picker.addStretch(1)

        self.not_verified = EmptyState(
            "icons/empty-domain.png", "", "", button_text=f"Open {DOMAINS_TAB}"
        )
        assert self.not_verified.button is not None
        self.not_verified.button.clicked.connect(
            lambda: self.navigate.emit(Tab.DOMAINS, self.current_domain() or "")
        )
        self.domain_stack = QStackedWidget()
        self.domain_stack.addWidget(self._build_users_view())
        self.domain_stack.addWidget(self.not_verified)
        domain_view = QWidget()
        domain_view.setLayout(vbox(picker, self.domain_stack, spacing=SPACE_M))

        self.stack = QStackedWidget()
        self.stack.addWidget(self.no_domains)
        self.stack.addWidget(domain_view)
        return self.stack

    def _build_users_view(self) -> QWidget:
        self.create_button = QPushButton("Create SMTP user")
        self.create_button.clicked.connect(self._open_create)
        self.test_send_button = QPushButton("Send test email")
        self.test_send_button.clicked.connect(self._open_test_send)
        self.activity_button = QPushButton("Activity…")
        self.activity_button.setToolTip("What became of this domain's messages, one by one")
        self.activity_button.clicked.connect(self._open_activity)
        self.count_label = muted(label(wrap=False))
        self.status_label = muted(label(wrap=False))
        toolbar = hbox(self.create_button, self.test_send_button, self.count_label, spacing=SPACE_M)
        toolbar.addStretch(1)
        toolbar.addWidget(self.status_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        header.setSectionResizeMode(LOGIN_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column in (CREATED_COLUMN, LAST_USED_COLUMN, SERVICE_COLUMN, ACTIONS_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Rows as tall as their buttons plus breathing room, so the buttons are not squeezed.
        self.table.verticalHeader().setDefaultSectionSize(
            QPushButton("Reset Password").sizeHint().height() + SPACE_S
        )
        self.table.itemSelectionChanged.connect(self._update_panel)

        self.no_users = EmptyState(
            "icons/empty-logins.png",
            "No SMTP users yet",
            "Create one for each app that sends email from this domain: your shop, CRM or "
            "warm-up tool.",
        )
        self.users_stack = QStackedWidget()
        self.users_stack.addWidget(self.table)
        self.users_stack.addWidget(self.no_users)

        self.panel = StatsPanel()
        self.panel.whole_domain_requested.connect(self.table.clearSelection)
        scroller = QScrollArea()
        scroller.setWidget(self.panel)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        scroller.setMinimumWidth(PANEL_MIN_WIDTH)
        scroller.setMaximumWidth(PANEL_WIDTH)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.deliverability = DeliverabilityPanel()
        self.deliverability.add_header_widget(self.activity_button)
        left = QWidget()
        left.setLayout(vbox(toolbar, self.users_stack, self.deliverability, spacing=SPACE_S))
        view = QWidget()
        row = hbox(left, scroller, spacing=SPACE_L)
        row.setStretch(0, TABLE_STRETCH)
        row.setStretch(1, PANEL_STRETCH)
        view.setLayout(row)
        return view

    # --- loading ------------------------------------------------------------------------------

    async def refresh(self) -> None:
        store = self.store
        assert store is not None
        self._services = await run_blocking(lambda: [v.name for v in list_services(store)])
        self._load_domains()

    def show_domain(self, name: str) -> None:
        """Switch to one domain (the ⋯ menu of Dedicated Domain And IP opens it this way)."""
        self._wanted = domains.lookup_name(name)
        index = self.domain_combo.findData(self._wanted)
        if index >= 0:
            self._wanted = None
            self.domain_combo.setCurrentIndex(index)
        elif self.store is not None:
            # Added since this page last loaded: reload, then select it.
            start_task(self.refresh(), banner=self.banner)

    def current_domain(self) -> str | None:
        """The stored name of the chosen domain, or None when there are no domains."""
        data = self.domain_combo.currentData()
        return str(data) if data else None

    def _load_domains(self) -> None:
        if self.store is None:
            return
        found = domains.list_domains(self.store)
        self._domains = {d.name: d for d in found}
        if not found:
            self.stack.setCurrentWidget(self.no_domains)
            return
        verified = [d.name for d in found if d.status == "verified"]
        candidates = (self._wanted, self.current_domain(), *verified, found[0].name)
        choice = next(c for c in candidates if c in self._domains)
        self._wanted = None
        self.domain_combo.blockSignals(True)
        self.domain_combo.clear()
        for domain in found:
            shown = domains.shown_name(domain.name)
            state = STATUS_WORDS.get(domain.status)
            self.domain_combo.addItem(f"{shown} — {state}" if state else shown, domain.name)
        self.domain_combo.setCurrentIndex(self.domain_combo.findData(choice))
        self.domain_combo.blockSignals(False)
        self.stack.setCurrentIndex(1)
        self._show_current_domain()

    def _show_current_domain(self) -> None:
        name = self.current_domain()
        if self.store is None or name is None:
            return
        domain = self._domains[name]
        if domain.status != "verified":
            reason = credentials.can_create(self.store, name) or ""
            self.not_verified.heading_label.setText("Not verified yet")
            self.not_verified.text_label.setText(
                f"{reason} Publish its DNS records at your DNS host, then press Verify Now on "
                f"{DOMAINS_TAB}."
            )
            self.domain_stack.setCurrentWidget(self.not_verified)
            return
        self.domain_stack.setCurrentIndex(0)
        self._load_users()
        start_task(self.deliverability.load(self.store, name), banner=self.banner)

    def _load_users(self) -> None:
        name = self.current_domain()
        if self.store is None or name is None:
            return
        selected = self.selected_user()
        self._users = credentials.list_smtp_users(self.store, name)
        self.count_label.setText(f"{len(self._users)} of {MAX_USERS_PER_DOMAIN} SMTP users")
        refusal = credentials.can_create(self.store, name)
        self.create_button.setEnabled(refusal is None)
        self.create_button.setToolTip(refusal or f"Add a login for an app to send as {name}")
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self._users))
        for row, user in enumerate(self._users):
            self._fill_row(row, user, name)
            if selected is not None and user.id == selected.id:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.users_stack.setCurrentWidget(self.table if self._users else self.no_users)
        self._update_panel()

    def _fill_row(self, row: int, user: SmtpUserView, domain: str) -> None:
        full = credentials.username(user.login, domain)
        login_item = QTableWidgetItem(user.login)
        login_item.setToolTip(f"Apps sign in as {full}")
        cells = (
            login_item,
            QTableWidgetItem(local_time(user.created_at, with_time=False)),
            QTableWidgetItem(local_time(user.last_used_at)),
        )
        for column, item in enumerate(cells):
            item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        reset = QPushButton("Reset Password")
        reset.setAccessibleName(f"Reset Password of {full}")
        reset.clicked.connect(lambda: self._open_reset(domain, user.login))
        delete = QPushButton("Delete")
        delete.setAccessibleName(f"Delete {full}")
        delete.clicked.connect(lambda: self._confirm_delete(domain, user.login))
        buttons = QWidget()
        buttons.setLayout(hbox(reset, delete, margin=SPACE_XS, spacing=SPACE_S))
        self.table.setCellWidget(row, ACTIONS_COLUMN, buttons)
        self.table.setCellWidget(row, SERVICE_COLUMN, self._service_cell(domain, user))

    def _service_cell(self, domain: str, user: SmtpUserView) -> QComboBox:
        combo = sends_through_combo(self._services, self._domains[domain].service)
        combo.setCurrentIndex(max(0, combo.findData(user.service)) if user.service else 0)
        combo.setEnabled(combo.count() > 1)
        combo.setToolTip("The service this login's mail goes through")
        combo.currentIndexChanged.connect(
            lambda _index: self.change_service(domain, user.login, combo.currentData())
        )
        return combo

    def selected_user(self) -> SmtpUserView | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._users):
            return None
        return self._users[rows[0].row()]

    def _update_panel(self) -> None:
        name = self.current_domain()
        if self.store is None or name is None or name not in self._domains:
            return
        user = self.selected_user()
        self.test_send_button.setEnabled(user is not None)
        self.test_send_button.setToolTip(
            "Send a test email as this SMTP user, through Postdesk's relay"
            if user is not None
            else "Select an SMTP user first"
        )
        if user is not None:
            stats = usage.sender_stats(self.store, smtp_user_id=user.id)
            full = credentials.username(user.login, name)
            self.panel.show_usage(full, stats, whole_domain=False)
            self.panel.show_connection(credentials.connection_details(self.store, name, user.login))
        else:
            stats = usage.sender_stats(self.store, domain_id=self._domains[name].id)
            used = [u.last_used_at for u in self._users if u.last_used_at is not None]
            stats = dataclasses.replace(stats, last_used_at=max(used, default=None))
            self.panel.show_usage(domains.shown_name(name), stats, whole_domain=True)
            self.panel.show_connection(smtpsettings.domain_connection(self.store, name))
        self.panel.show_activity(smtpsettings.recent_activity(self.store, name))

    # --- actions ------------------------------------------------------------------------------

    def _open_create(self) -> None:
        name = self.current_domain()
        if name is None:
            return
        dialog = NewSmtpUserDialog(
            name,
            [u.login for u in self._users],
            self,
            services=self._services,
            domain_service=self._domains[name].service,
        )
        dialog.accepted.connect(
            lambda: self.create_user(name, dialog.login(), dialog.password(), dialog.service())
        )
        self.keep_open(dialog)

    def _open_activity(self) -> None:
        from postdesk.gui.dialogs.activity import open_activity

        name = self.current_domain()
        if self.store is None or name is None:
            return
        changes = self.context.changes if self.context is not None else None
        open_activity(self, self.store, domain=name, changes=changes)

    def _open_reset(self, domain: str, login: str) -> None:
        dialog = ResetPasswordDialog(login, credentials.username(login, domain), self)
        dialog.accepted.connect(lambda: self.reset_password(domain, login, dialog.password()))
        self.keep_open(dialog)

    def _open_test_send(self) -> None:
        name, user = self.current_domain(), self.selected_user()
        if self.store is None or name is None or user is None:
            return
        relay = self.context.relay if self.context is not None else None
        dialog = TestSendDialog.as_smtp_user(self.store, name, user.login, self, relay=relay)
        dialog.result_ready.connect(lambda _result: self._update_panel())  # the relay counted it
        self.keep_open(dialog)

    def _confirm_delete(self, domain: str, login: str) -> None:
        full = credentials.username(login, domain)
        confirm_destructive(
            self,
            title="Delete SMTP user",
            text=f"Delete {full}?",
            explanation=DELETE_EXPLANATION,
            action="Delete",
            on_confirm=lambda: self.delete_user(domain, login),
        )

    @contextlib.contextmanager
    def _working(self, text: str) -> Iterator[None]:
        """Lock the users list while a keyring call runs, then show what changed."""
        self.table.setEnabled(False)
        try:
            with busy(self.create_button, self.status_label, text):
                yield
        finally:
            self.table.setEnabled(True)
            self._load_users()  # also decides again whether Create may be pressed

    @async_slot
    async def create_user(
        self, domain: str, login: str, password: str | None, service: str | None = None
    ) -> None:
        """Create an SMTP user (its password goes to the keyring) and show the password once."""
        store = self.store
        assert store is not None
        full = credentials.username(login, domain)
        with self._working(f"Creating {full}…"):
            made = await run_blocking(
                lambda: credentials.create_smtp_user(
                    store, domain, login, password, service=service
                )
            )
        self.publish(Change.USERS, domain)
        self.banner.show_message("info", f"SMTP user {made.username} created")
        self._show_once(made, "SMTP user created")

    @async_slot
    async def change_service(self, domain: str, login: str, service: str | None) -> None:
        """Send one login's mail through another service (None: the domain's own)."""
        from postdesk.core import routing

        store = self.store
        assert store is not None
        with self._working(f"Changing the service of {credentials.username(login, domain)}…"):
            change = await run_blocking(
                lambda: routing.set_user_service(store, domain, login, service)
            )
        self.publish(Change.USERS, domain)
        self.publish(Change.DOMAINS, domain)  # the expected SPF record may have grown
        where = change.service or "the domain's service"
        hint = (
            f"The SPF record of {domains.shown_name(domain)} must now include "
            f"include:{change.spf_include}: publish it (see {DOMAINS_TAB}) and press Verify Now."
            if change.spf_include
            else ""
        )
        self.banner.show_message("info", f"{change.username} now sends through {where}.", hint)

    @async_slot
    async def reset_password(self, domain: str, login: str, password: str | None) -> None:
        """Give an SMTP user a new password and show it once; the old one stops working."""
        store = self.store
        assert store is not None
        full = credentials.username(login, domain)
        with self._working(f"Setting a new password for {full}…"):
            made = await run_blocking(
                lambda: credentials.reset_password(store, domain, login, password)
            )
        self.publish(Change.USERS, domain)
        self.banner.show_message(
            "info",
            f"New password set for {made.username}",
            "Enter it in every app that uses this login; the old one no longer works.",
        )
        self._show_once(made, "New password set")

    @async_slot
    async def delete_user(self, domain: str, login: str) -> None:
        """Delete an SMTP user (the user has confirmed); its history stays."""
        store = self.store
        assert store is not None
        full = credentials.username(login, domain)
        with self._working(f"Deleting {full}…"):
            await run_blocking(lambda: credentials.delete_smtp_user(store, domain, login))
        self.publish(Change.USERS, domain)
        self.banner.show_message("info", f"SMTP user {full} deleted", DELETE_EXPLANATION)

    def _show_once(self, made: NewCredentials, heading: str) -> None:
        self.keep_open(PasswordShownDialog(made, heading, self))
