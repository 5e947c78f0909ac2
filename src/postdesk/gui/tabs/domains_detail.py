"""Dedicated Domain And IP, one domain: its row in the list, and its status, records, problems
and history on the right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QCheckBox, QMenu, QPushButton, QScrollArea, QToolButton, QWidget

from postdesk.core import domainview, recordgen
from postdesk.core.domainview import DomainDetailData, DomainSummary
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    SPACE_L,
    SPACE_M,
    SPACE_S,
    SPACE_XS,
    hbox,
    label,
    muted,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.problem_list import ProblemList
from postdesk.gui.widgets.records_table import ElidedLabel, RecordsTable
from postdesk.gui.widgets.stats_panel import local_time
from postdesk.gui.widgets.status_badge import State, StatusBadge

HISTORY_SHOWN = 5
DOMAIN_STATES: dict[str, tuple[State, str]] = {
    "verified": ("ok", "Verified"),
    "failing": ("failed", "Failing"),
    "pending": ("testing", "Pending"),
}
CHECK_WORDS = {
    "verified": "Verified",
    "failing": "Failing",
    "error": "Not checked (DNS did not answer; nothing changed)",
}
PUBLISH_TEXT = (
    "Add these records at your DNS host — the company where you manage your domain's DNS, often "
    "where you bought the domain — then press Verify Now."
)
SHORT_HOST_TIP = (
    "Tip: many DNS hosts add your domain to the host name themselves. There, type only the short "
    "form shown under each host (for example _dmarc instead of _dmarc.{domain}; @ means the "
    "domain itself)."
)
COPY_ALL_TIP = "Copy every record as a zone-file snippet, for DNS hosts that can import one."


@dataclass(frozen=True)
class DomainActions:
    """What the ⋯ menu and the buttons of a domain do; each takes the domain's name."""

    smtp_settings: Callable[[str], object]
    domain_settings: Callable[[str], object]
    verify: Callable[[str], object]
    cancel_verify: Callable[[str], object]
    remove: Callable[[str], object]
    activity: Callable[[str], object] | None = None  # the domain's messages and what became of them
    conversations: Callable[[str], object] | None = None  # the mail it received
    forwarding: Callable[[str], object] | None = None
    sender_addresses: Callable[[str], object] | None = None


def status_badge(status: str) -> StatusBadge:
    badge = StatusBadge()
    badge.set_state(*DOMAIN_STATES.get(status, ("untested", status.capitalize())))
    return badge


def domain_menu(
    parent: QWidget, actions: DomainActions, name: Callable[[], str | None]
) -> QToolButton:
    """The ⋯ button: SMTP Settings, Domain Settings, Activity, Conversations, Forwarding…,
    Sender addresses…, Verify Now, Remove, for domain ``name()``."""
    button = QToolButton(parent)
    button.setText("⋯")
    button.setToolTip("More actions for this domain")
    button.setAccessibleName("More actions")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    button.setAutoRaise(True)
    # The "⋯" already says "more"; Qt's extra arrow beside it only adds noise.
    button.setStyleSheet("QToolButton::menu-indicator { image: none; }")
    menu = QMenu(button)
    items = (
        ("SMTP Settings", actions.smtp_settings),
        ("Domain Settings", actions.domain_settings),
        *((("Activity", actions.activity),) if actions.activity is not None else ()),
        *(
            (text, run)
            for text, run in (
                ("Conversations", actions.conversations),
                ("Forwarding…", actions.forwarding),
                ("Sender addresses…", actions.sender_addresses),
            )
            if run is not None
        ),
        ("Verify Now", actions.verify),
        None,
        ("Remove", actions.remove),
    )
    for item in items:
        if item is None:
            menu.addSeparator()
            continue
        text, run = item
        menu.addAction(text, lambda run=run: _for_domain(run, name()))
    button.setMenu(menu)
    return button


def _for_domain(run: Callable[[str], object], name: str | None) -> None:
    if name is not None:
        run(name)


def section(text: str) -> QWidget:
    widget = label(text, wrap=False)
    bold = QFont(widget.font())
    bold.setWeight(QFont.Weight.DemiBold)
    widget.setFont(bold)
    return widget


class DomainDetail(QWidget):
    """The selected domain; its buttons and ⋯ menu run ``actions``."""

    def __init__(self, actions: DomainActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name: str | None = None
        self.problem_note = ""
        self.records_snippet = ""
        self.title = label(wrap=False)
        self.title.setFont(scaled_font(self.title, HEADING_FONT_SCALE))
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badge = status_badge("pending")
        self.checked_label = muted(label(wrap=False))
        self.service_label = muted(label())
        self.verify_button = QPushButton("Verify Now")
        self.verify_button.setDefault(True)
        self.verify_button.clicked.connect(lambda: _for_domain(actions.verify, self.name))
        self.menu_button = domain_menu(self, actions, lambda: self.name)
        self.checking_label = muted(label(wrap=False))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: _for_domain(actions.cancel_verify, self.name))
        self.checking_label.hide()
        self.cancel_button.hide()
        self.broke_banner = Banner()

        name_row = hbox(self.title, self.badge, spacing=SPACE_S)
        name_row.addStretch(1)
        top = hbox(
            vbox(name_row, self.checked_label, spacing=SPACE_XS),
            self.checking_label,
            self.cancel_button,
            self.verify_button,
            self.menu_button,
            spacing=SPACE_S,
        )
        top.setStretch(0, 1)

        self.short_toggle = QCheckBox("Show short host names")
        self.short_toggle.toggled.connect(self._short_hosts)
        self.copy_all_button = QPushButton("Copy all")
        self.copy_all_button.setToolTip(COPY_ALL_TIP)
        self.copy_all_button.clicked.connect(self.copy_all)
        self.tip_label = muted(label())
        self.table = RecordsTable()
        records_bar = hbox(section("DNS records to publish"), spacing=SPACE_M)
        records_bar.addStretch(1)
        records_bar.addWidget(self.short_toggle)
        records_bar.addWidget(self.copy_all_button)

        self.problems = ProblemList()
        self.history_label = muted(label(selectable=True))
        layout = vbox(
            top,
            self.broke_banner,
            self.service_label,
            records_bar,
            label(PUBLISH_TEXT),
            self.table,
            self.tip_label,
            SPACE_S,
            section("What to fix"),
            self.problems,
            SPACE_S,
            section("Last checks"),
            self.history_label,
            spacing=SPACE_S,
        )
        layout.addStretch(1)
        layout.setContentsMargins(0, 0, SPACE_L, 0)  # room for the scroll bar
        self.setLayout(layout)

    def show_domain(self, summary: DomainSummary, detail: DomainDetailData) -> None:
        """Show ``summary``'s domain: status, records with their last results, problems, history.

        ``detail`` was read off the GUI thread (``domainview.domain_detail``); this only fills
        the widgets.
        """
        name = summary.name
        self.name = name
        self.title.setText(summary.shown)
        self.badge.set_state(*DOMAIN_STATES.get(summary.status, ("untested", summary.status)))
        self.service_label.setText(
            f"Sends through {summary.service}."
            if summary.service
            else "No SMTP service chosen yet: choose one on Domain Settings."
        )
        self._show_broken(summary)
        self.records_snippet = recordgen.zone_snippet(list(detail.expected))
        self.copy_all_button.setText("Copy all")
        self.table.set_records(list(detail.records))
        self.table.set_short_hosts(self.short_toggle.isChecked())
        self.tip_label.setText(SHORT_HOST_TIP.format(domain=name))
        found = domainview.report_problems(detail.report)
        self.problems.set_problems(found)
        serious = sum(1 for _host, p in found if p.severity == "error")
        self.problem_note = (
            f"{serious} problem{'s' if serious != 1 else ''} to fix, explained below"
            if serious
            else ""
        )
        self.set_checked_text(summary)
        self.problems.set_empty_text(
            "No problems found: every required record is in place."
            if detail.report is not None
            else "Not checked yet. Publish the records above, then press Verify Now."
        )
        lines = [
            f"{local_time(c.checked_at)} — {CHECK_WORDS.get(c.status, c.status)}"
            for c in detail.history[:HISTORY_SHOWN]
        ]
        self.history_label.setText("\n".join(lines) or "No checks yet.")

    def set_checked_text(self, summary: DomainSummary) -> None:
        checked = domainview.checked_ago(summary.last_checked_at).capitalize()
        self.checked_label.setText(" · ".join(x for x in (checked, self.problem_note) if x))

    def _show_broken(self, summary: DomainSummary) -> None:
        if summary.broke:
            self.broke_banner.show_message(
                "warning",
                f"{summary.shown} was verified, but its DNS records have changed since.",
                "Mail from it may now fail receivers' checks. Put back the records marked below, "
                "then press Verify Now.",
                dismissable=False,
            )
        else:
            self.broke_banner.clear()

    def set_checking(self, checking: bool, text: str = "") -> None:
        """While Verify Now runs: the button waits, a status and Cancel show."""
        self.verify_button.setEnabled(not checking)
        self.cancel_button.setVisible(checking)
        self.checking_label.setText(text)
        self.checking_label.setVisible(bool(text))

    def _short_hosts(self, short: bool) -> None:
        self.table.set_short_hosts(short)

    def copy_all(self) -> None:
        """Put every record on the clipboard as BIND zone-file lines."""
        QGuiApplication.clipboard().setText(self.records_snippet)
        self.copy_all_button.setText("Copied")


class DomainRow(QWidget):
    """One domain in the list: its name, a status pill, when it was checked, and the ⋯ menu."""

    def __init__(self, summary: DomainSummary, actions: DomainActions) -> None:
        super().__init__()
        self.summary = summary
        # A long name ends in "…" (whole in the tooltip) so the pill and ⋯ always stay in view.
        self.name_label = ElidedLabel(summary.shown)
        bold = QFont(self.name_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.name_label.setFont(bold)
        self.badge = status_badge(summary.status)
        self.checked_label = muted(label(wrap=False))
        self.menu_button = domain_menu(self, actions, lambda: summary.name)
        top = hbox(spacing=SPACE_S)
        top.addWidget(self.name_label, 1)
        top.addWidget(self.badge)
        top.addWidget(self.menu_button)
        self.setLayout(vbox(top, self.checked_label, margin=SPACE_S, spacing=SPACE_XS))
        self.tick()

    def tick(self) -> None:
        self.checked_label.setText(domainview.checked_ago(self.summary.last_checked_at))


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that lets the page background show through."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    area.viewport().setAutoFillBackground(False)
    widget.setAutoFillBackground(False)
    return area
