"""The SMTP Settings side panel: usage numbers, connection details and recent activity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QWidget

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

if TYPE_CHECKING:  # for the annotations only: the SMTP Service tab imports this module at start
    from postdesk.core.credentials import ConnectionDetails
    from postdesk.core.smtpsettings import Activity
    from postdesk.core.usage import SenderStats

# Big enough for the numbers to be the first thing read in the panel.
STAT_FONT_SCALE = 1.6
SECURITY_WORDS = {
    "starttls": "STARTTLS",
    "tls": "SSL/TLS",
    "none": "None (not encrypted)",
}
STAT_CAPTIONS = ("Sent today", "Last 7 days", "Last 30 days", "Last used")


def local_time(at: dt.datetime | None, *, never: str = "never", with_time: bool = True) -> str:
    """A moment in the user's time zone ("Today, 09:41", "3 Nov 2025, 17:02"); ``never`` if None."""
    if at is None:
        return never
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # stored times are UTC
    local = at.astimezone()
    date = f"{local.day} {local:%b %Y}"
    if not with_time:
        return date
    days_ago = (dt.datetime.now().astimezone().date() - local.date()).days
    day = {0: "Today", 1: "Yesterday"}.get(days_ago, date)
    return f"{day}, {local:%H:%M}"


def heading(text: str = "") -> QLabel:
    widget = label(text)
    widget.setFont(scaled_font(widget, HEADING_FONT_SCALE))
    return widget


class StatTile(QWidget):
    """One number with a caption under it."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value_label = label("0", wrap=False)
        self.value_label.setFont(scaled_font(self.value_label, STAT_FONT_SCALE))
        self.caption_label = muted(label(caption, wrap=False))
        self.setLayout(vbox(self.value_label, self.caption_label, spacing=0))
        self.setAccessibleName(caption)

    def set_value(self, text: str) -> None:
        self.value_label.setText(text)
        self.setAccessibleDescription(text)


class StatsPanel(QFrame):
    """Usage of one SMTP user (or the whole domain), how apps connect, and what changed lately."""

    #: The user asked to see the whole domain again instead of one SMTP user.
    whole_domain_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        # Here, not at the top: the SMTP Service tab, built at start, uses only local_time.
        from PySide6.QtWidgets import QFormLayout

        from postdesk.gui.widgets.copyfield import CopyField

        super().__init__(parent)
        self.setObjectName("statsPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.usage_heading = heading("Usage")
        self.subject_label = label(selectable=True)
        self.subject_label.setFont(scaled_font(self.subject_label, 1.0))
        self.whole_domain_button = QPushButton("Show all users")
        self.whole_domain_button.setFlat(True)
        self.whole_domain_button.clicked.connect(self.whole_domain_requested)
        self.usage_note = muted(label())
        self.tiles = {caption: StatTile(caption) for caption in STAT_CAPTIONS}
        grid = QGridLayout()
        grid.setHorizontalSpacing(SPACE_L)
        grid.setVerticalSpacing(SPACE_M)
        for index, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, index // 2, index % 2)

        self.host = CopyField(name="Host")
        self.port = CopyField(name="Port")
        self.security = CopyField(name="Security")
        self.username = CopyField(name="Username")
        self.username_note = muted(label("Select an SMTP user to see its username."))
        form = QFormLayout()
        form.setSpacing(SPACE_S)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for caption, field in (
            ("Host", self.host),
            ("Port", self.port),
            ("Security", self.security),
            ("Username", self.username),
        ):
            form.addRow(caption, field)
        form.addRow("", self.username_note)
        self._form = form
        self.connection_note = muted(
            label("The password is the one shown when this user was created or last reset.")
        )

        self.activity_list = vbox(spacing=SPACE_XS)
        layout = vbox(margin=SPACE_M, spacing=SPACE_S)
        for item in (
            self.usage_heading,
            hbox(self.subject_label, self.whole_domain_button, spacing=SPACE_M),
            grid,
            self.usage_note,
            SPACE_M,
            heading("Connection details"),
            form,
            self.connection_note,
            SPACE_M,
            heading("Recent activity"),
            self.activity_list,
        ):
            if isinstance(item, int):
                layout.addSpacing(item)
            elif isinstance(item, QWidget):
                layout.addWidget(item)
            else:
                layout.addLayout(item)
        layout.addStretch(1)
        self.setLayout(layout)

    def show_usage(self, subject: str, stats: SenderStats, *, whole_domain: bool) -> None:
        """Fill the numbers; ``subject`` is the username, or the domain for all its users."""
        self.subject_label.setText(f"All SMTP users of {subject}" if whole_domain else subject)
        self.whole_domain_button.setVisible(not whole_domain)
        self.usage_note.setText("Each recipient counts as one email; days are counted in UTC.")
        self.tiles["Sent today"].set_value(f"{stats.today:,}")
        self.tiles["Last 7 days"].set_value(f"{stats.last_7_days:,}")
        self.tiles["Last 30 days"].set_value(f"{stats.last_30_days:,}")
        self.tiles["Last used"].set_value(local_time(stats.last_used_at, never="Never"))

    def show_connection(self, details: ConnectionDetails) -> None:
        """Fill host, port and security; the username row only when a user is selected."""
        self.host.set_value(details.host)
        self.port.set_value(str(details.port))
        self.security.set_value(SECURITY_WORDS.get(details.security, details.security))
        self.username.set_value(details.username)
        has_user = bool(details.username)
        self._form.setRowVisible(self.username, has_user)
        self._form.setRowVisible(self.username_note, not has_user)
        self.connection_note.setVisible(has_user)

    def show_activity(self, items: Sequence[Activity]) -> None:
        """List the newest events, each with its local time."""
        while (item := self.activity_list.takeAt(0)) is not None:
            if widget := item.widget():
                widget.hide()  # until deleted it would still be painted where it was
                widget.deleteLater()
        if not items:
            self.activity_list.addWidget(muted(label("Nothing has changed yet.")))
        for activity in items:
            when = muted(label(local_time(activity.at), wrap=False))
            what = label(f"{activity.username} {activity.what}")
            row = QWidget()
            row.setLayout(vbox(what, when, spacing=0))
            self.activity_list.addWidget(row)

    def activity_texts(self) -> list[str]:
        """What the Recent activity list says, one line per event (for tests and accessibility)."""
        rows = [self.activity_list.itemAt(i).widget() for i in range(self.activity_list.count())]
        return [
            row.text()
            if isinstance(row, QLabel)
            else ", ".join(part.text() for part in row.findChildren(QLabel))
            for row in rows
            if row is not None
        ]
