"""SMTP Service: the providers that deliver the user's mail, their last test, and today's usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

from postdesk.core.events import Change
from postdesk.core.presets import SECURITY_LABELS
from postdesk.core.views import ServiceView
from postdesk.gui.asyncutil import async_slot, busy, run_blocking
from postdesk.gui.confirm import confirm_destructive
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    SPACE_M,
    SPACE_S,
    SPACE_XS,
    hbox,
    label,
    muted,
    scaled_font,
    vbox,
)
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.status_badge import StatusBadge
from postdesk.gui.widgets.usage_panel import DEFAULT_RANGE, UsagePanel

if TYPE_CHECKING:
    from postdesk.core.services import ServiceForm
    from postdesk.core.smtptest import TestResult
    from postdesk.core.store import Store
    from postdesk.core.store.lite import LiteReader
    from postdesk.gui.dialogs.test_send import TestSendDialog

# The core's services, sending and the dialogs load SQLAlchemy and the SMTP client: they are
# imported where used, so the page can show a first read of the workspace without them.

COLUMNS = ("Name", "Server", "Security", "Username", "Default", "Last test", "")
(
    NAME_COLUMN,
    SERVER_COLUMN,
    SECURITY_COLUMN,
    USERNAME_COLUMN,
    DEFAULT_COLUMN,
    TEST_COLUMN,
    ACTIONS_COLUMN,
) = range(len(COLUMNS))
DEFAULT_MARKER = "✓ Default"
ROWS_ALWAYS_SHOWN = 4
# When the window grows, the usage chart takes most of the new room.
TABLE_STRETCH, USAGE_STRETCH = 1, 3
REMOVE_EXPLANATION = (
    "Its password or API key is deleted from this computer's password storage. Domains can no "
    "longer send through it."
)


def badge_text(service: ServiceView, testing: bool) -> tuple[str, str]:
    """The state and words of a service's Last test badge."""
    if testing:
        return "testing", "Testing…"
    if service.last_test_at is None:
        return "untested", "Not tested"
    if service.last_test_ok:
        return "ok", "OK"
    from postdesk.core.smtptest.verdicts import CATEGORIES

    category = CATEGORIES.get(service.last_test_category or "", "The test failed")
    return "failed", f"Failed: {category[0].lower()}{category[1:]}"


class SmtpServicePage(Page):
    key = Tab.SMTP_SERVICE
    watches = frozenset({Change.SERVICES, Change.DOMAINS, Change.USAGE})
    later_modules = (
        "postdesk.core.services",
        "postdesk.core.usage",
        "postdesk.core.sending",
        "postdesk.gui.dialogs.service_form",
        "postdesk.gui.dialogs.test_send",
    )
    description = (
        "Choose the email providers that deliver your mail, such as SendGrid, Mailgun or "
        "Amazon SES, and check that they work."
    )

    def build_content(self) -> QWidget:
        self._services: list[ServiceView] = []
        self._results: dict[int, TestResult] = {}  # this session's tests, by service id
        self._testing: set[int] = set()

        self.add_button = QPushButton("Add Service")
        self.add_button.clicked.connect(self.open_add)
        self.status_label = muted(label(wrap=False))
        toolbar = hbox(self.add_button, self.status_label, spacing=SPACE_M)
        toolbar.addStretch(1)
        self.table = self._build_table()
        self.empty = EmptyState(
            "icons/empty-service.png",
            "No SMTP services yet",
            "Add the provider that delivers your mail — SendGrid, Mailgun, Amazon SES or your "
            "own server. Its password or API key is kept in your computer's secure password "
            "storage.",
            button_text="Add Service",
        )
        assert self.empty.button is not None
        self.empty.button.clicked.connect(self.open_add)
        # Shown one at a time (not stacked), so the empty state's height does not hold the table
        # open when there are only a few services.
        self.empty.hide()
        services_view = QWidget()
        services_view.setLayout(vbox(toolbar, self.table, self.empty, spacing=SPACE_S))

        self.toolbar = toolbar
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(services_view)
        self.splitter.addWidget(self._build_usage())
        self.splitter.setStretchFactor(0, TABLE_STRETCH)
        self.splitter.setStretchFactor(1, USAGE_STRETCH)
        self._splitter_moved = False
        self.splitter.splitterMoved.connect(self._remember_split)
        return self.splitter

    def _remember_split(self) -> None:
        self._splitter_moved = True

    def _fit_services(self) -> None:
        """Give the services just the height their rows need (until the user moves the split)."""
        row_height = self.table.verticalHeader().defaultSectionSize()
        chrome = self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth()
        needed = chrome + len(self._services) * row_height
        # A few services always stay in view; the usage section scrolls instead.
        self.table.setMinimumHeight(
            chrome + min(len(self._services), ROWS_ALWAYS_SHOWN) * row_height
        )
        if self._splitter_moved:
            return
        if not self._services:
            needed = self.empty.sizeHint().height()
        top = self.toolbar.sizeHint().height() + SPACE_S + needed
        total = sum(self.splitter.sizes())
        self.splitter.setSizes([top, max(total - top, 0)])

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # A long username gives way first (it has a tooltip); the server name is shown whole.
        header.setSectionResizeMode(USERNAME_COLUMN, QHeaderView.ResizeMode.Stretch)
        # Rows as tall as the badge with its time under it, plus breathing room.
        badge = StatusBadge()
        table.verticalHeader().setDefaultSectionSize(
            badge.sizeHint().height() + badge.fontMetrics().lineSpacing() + 2 * SPACE_XS + SPACE_S
        )
        return table

    def _build_usage(self) -> QWidget:
        """The account's usage today and its daily chart, under the services."""
        heading = label("Sending today")
        heading.setFont(scaled_font(heading, HEADING_FONT_SCALE))
        self.usage_panel = UsagePanel()
        section = QWidget()
        layout = vbox(heading, self.usage_panel, spacing=SPACE_S)
        layout.setContentsMargins(0, SPACE_M, 0, 0)  # clear of the splitter handle
        section.setLayout(layout)
        # Scrolls in a small window instead of making the whole window taller.
        scroller = QScrollArea()
        scroller.setWidget(section)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        return scroller

    # --- loading ------------------------------------------------------------------------------

    @staticmethod
    def read_first(reader: LiteReader) -> Any:
        """The services and the usage figures, in one read on the light path."""
        today = reader.today()
        return reader.services(), today, reader.daily_series(DEFAULT_RANGE, end=today.date)

    def show_first(self, data: Any) -> None:
        found, today, series = data
        self._show_services(found)
        self.usage_panel.show_data(today, series)

    async def refresh(self) -> None:
        self._load()
        if self.store is not None:
            await self.usage_panel.refresh(self.store)

    def _load(self) -> None:
        from postdesk.core import services

        if self.store is None:
            return
        self._show_services(services.list_services(self.store))

    def _show_services(self, found: list[ServiceView]) -> None:
        self._services = found
        self.table.setVisible(bool(self._services))
        self.empty.setVisible(not self._services)
        self.table.setRowCount(len(self._services))
        for row, service in enumerate(self._services):
            self._fill_row(row, service)
        self._fit_services()

    def _fill_row(self, row: int, service: ServiceView) -> None:
        security = SECURITY_LABELS.get(service.security, service.security)
        cells = (
            service.name,
            f"{service.host}:{service.port}",
            security,
            service.username,
            DEFAULT_MARKER if service.is_default else "",
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        self.table.item(row, USERNAME_COLUMN).setToolTip(service.username)
        default_item = self.table.item(row, DEFAULT_COLUMN)
        default_item.setToolTip(
            "New domains send through this service" if service.is_default else ""
        )
        self.table.setCellWidget(row, TEST_COLUMN, self._badge_cell(service))
        self.table.setCellWidget(row, ACTIONS_COLUMN, self._actions_cell(service))

    def _badge_cell(self, service: ServiceView) -> QWidget:
        # Not at start: its module brings the SMTP Settings panel's Qt classes.
        from postdesk.gui.widgets.stats_panel import local_time

        badge = StatusBadge()
        state, text = badge_text(service, service.id in self._testing)
        tooltip = "Show the details of this test" if state in ("ok", "failed") else ""
        badge.set_state(state, text, tooltip=tooltip)  # type: ignore[arg-type]
        badge.clicked.connect(lambda: self.open_details(service.name))
        when = muted(label(local_time(service.last_test_at, never=""), wrap=False))
        when.setVisible(state in ("ok", "failed"))
        column = vbox(badge, when, spacing=0)
        column.setAlignment(badge, Qt.AlignmentFlag.AlignLeft)
        cell = QWidget()
        cell.setLayout(hbox(column, margin=SPACE_XS))
        return cell

    def _actions_cell(self, service: ServiceView) -> QWidget:
        name = service.name
        test = QPushButton("Test connection")
        test.setAccessibleName(f"Test connection of {name}")
        test.setEnabled(service.id not in self._testing)
        test.clicked.connect(lambda: self.test_connection(name))
        more = QToolButton()
        more.setText("⋯")
        more.setAccessibleName(f"More actions for {name}")
        more.setToolTip("Send test email, edit, set as default, remove")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(more)
        menu.addAction("Send test email…", lambda: self.open_send(name))
        menu.addAction("Edit…", lambda: self.open_edit(name))
        default = menu.addAction("Set as default", lambda: self.make_default(name))
        default.setEnabled(not service.is_default)
        menu.addAction("Last test details…", lambda: self.open_details(name))
        menu.addSeparator()
        menu.addAction("Remove…", lambda: self.confirm_remove(name))
        more.setMenu(menu)
        cell = QWidget()
        cell.setLayout(hbox(test, more, margin=SPACE_XS, spacing=SPACE_S))
        return cell

    def service(self, name: str) -> ServiceView | None:
        return next((s for s in self._services if s.name == name), None)

    # --- dialogs ------------------------------------------------------------------------------

    def open_add(self) -> None:
        from postdesk.gui.dialogs.service_form import ServiceFormDialog

        dialog = ServiceFormDialog([s.name for s in self._services], parent=self)
        dialog.accepted.connect(lambda: self.add_service(dialog.form()))
        self.keep_open(dialog)

    def open_edit(self, name: str) -> None:
        from postdesk.gui.dialogs.service_form import ServiceFormDialog

        service = self.service(name)
        if service is None:
            return
        dialog = ServiceFormDialog([s.name for s in self._services], service, self)
        dialog.accepted.connect(
            lambda: self.edit_service(service, dialog.form(), dialog.pin_removed)
        )
        self.keep_open(dialog)

    def open_send(self, name: str) -> None:
        def open_dialog(store: Store) -> None:
            from postdesk.gui.dialogs.test_send import TestSendDialog

            service = self.service(name)
            if service is not None:
                self._watch(TestSendDialog.through_service(store, service, self), service)

        self.with_store(open_dialog)

    def open_details(self, name: str) -> None:
        def open_dialog(store: Store) -> None:
            from postdesk.gui.dialogs.test_send import TestSendDialog

            service = self.service(name)
            if service is not None:
                result = self._results.get(service.id)
                dialog = TestSendDialog.connection_test(store, service, result, self)
                self._watch(dialog, service)

        self.with_store(open_dialog)

    def _watch(self, dialog: TestSendDialog, service: ServiceView) -> None:
        """Keep the row's badge in step with what happens in a Test Send dialog."""

        def finished(result: TestResult) -> None:
            self._results[service.id] = result
            self._load()

        dialog.result_ready.connect(finished)
        dialog.pinned.connect(self._load)
        dialog.pinned.connect(lambda: self.publish(Change.SERVICES))
        self.keep_open(dialog)

    def confirm_remove(self, name: str) -> None:
        confirm_destructive(
            self,
            title="Remove service",
            text=f"Remove {name}?",
            explanation=REMOVE_EXPLANATION,
            action="Remove",
            on_confirm=lambda: self.remove_service(name),
        )

    # --- actions ------------------------------------------------------------------------------

    @async_slot
    async def add_service(self, form: ServiceForm) -> None:
        """Save a new service (the password goes to the keyring, off the GUI thread)."""
        from postdesk.core import services

        store = await self.wait_for_store()
        with busy(self.add_button, self.status_label, f"Saving {form.name}…"):
            await run_blocking(lambda: services.add_service(store, form))
        self._load()
        self.publish(Change.SERVICES)
        self.banner.show_message(
            "info",
            f"{form.name} added",
            "Press Test connection to check that the server accepts the login.",
        )

    @async_slot
    async def edit_service(
        self, service: ServiceView, form: ServiceForm, pin_removed: bool
    ) -> None:
        """Save the edited service; a removed pin is forgotten too."""
        from postdesk.core import services

        store = await self.wait_for_store()
        with busy(self.add_button, self.status_label, f"Saving {form.name}…"):
            await run_blocking(lambda: services.edit_service(store, service.name, form))
            if pin_removed:
                await run_blocking(lambda: services.pin_certificate(store, form.name, None))
        self._results.pop(service.id, None)  # the settings changed: that test no longer applies
        self._load()
        self.publish(Change.SERVICES)
        self.banner.show_message("info", f"{form.name} saved")

    @async_slot
    async def remove_service(self, name: str) -> None:
        """Remove a service (the user has confirmed); refused while a domain uses it."""
        from postdesk.core import services

        store = await self.wait_for_store()
        try:
            with busy(self.add_button, self.status_label, f"Removing {name}…"):
                await run_blocking(lambda: services.remove_service(store, name))
        finally:
            self._load()
        self.publish(Change.SERVICES)
        self.banner.show_message("info", f"{name} removed", REMOVE_EXPLANATION)

    @async_slot
    async def make_default(self, name: str) -> None:
        """Make ``name`` the service new domains send through."""
        from postdesk.core import services

        store = await self.wait_for_store()
        await run_blocking(lambda: services.set_default(store, name))
        self._load()
        self.publish(Change.SERVICES)
        self.banner.show_message(
            "info", f"{name} is now the default service", "New domains send through it."
        )

    @async_slot
    async def test_connection(self, name: str) -> None:
        """Test the connection and login of a service; the row's badge shows the result."""
        from postdesk.core import sending
        from postdesk.core.smtptest.verdicts import CATEGORIES

        store = await self.wait_for_store()
        service = self.service(name)
        if service is None:
            return
        self._testing.add(service.id)
        self._load()
        try:
            result = await sending.test_service_connection(store, name)
            self._results[service.id] = result
        finally:
            self._testing.discard(service.id)
            self._load()
        if result.ok:
            self.banner.show_message("info", f"{name} works", result.advice)
            return
        self.banner.show_message(
            "error",
            f"{name}: {CATEGORIES.get(result.category, 'the test failed').lower()}",
            result.advice,
            action=("Details", lambda: self.open_details(name)),
        )
