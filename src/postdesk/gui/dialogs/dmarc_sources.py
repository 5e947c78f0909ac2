"""Who sends as this domain: the DMARC aggregate reports mailbox providers send, by source IP.

Reports arrive by mail (to the domain's rua address, when reception is on) or are imported
from files. The reading and importing run off the GUI thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from postdesk.gui.asyncutil import LatestRead, async_slot
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_S, hbox, label, muted, vbox
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.plain_table import PlainTable
from postdesk.gui.widgets.shown_refresh import ShownRefresh
from postdesk.gui.widgets.stats_panel import heading

if TYPE_CHECKING:
    import datetime as dt

    from postdesk.core.dmarcreports import ImportResult, SourceSummary, WhoSends
    from postdesk.core.store import Store

DIALOG_SIZE = (980, 560)
# Reports come a few a day: a look every half minute is plenty.
REFRESH_MS = 30_000
ALL_DAYS = 100 * 365
PERIODS = (
    (7, "Last 7 days"),
    (30, "Last 30 days"),
    (90, "Last 90 days"),
    (365, "Last year"),
    (ALL_DAYS, "All reports"),
)
DEFAULT_DAYS = 30
SOURCE_COLUMNS = (
    "Source IP",
    "Reverse DNS",
    "Messages",
    "DMARC pass",
    "SPF aligned",
    "DKIM aligned",
    "Quarantined / rejected",
    "Reported by",
    "Days",
)
DAILY_COLUMNS = ("Day", "Reporter", "Source IP", "Messages", "DMARC pass", "Policy applied")
REPORT_FILES = "DMARC reports (*.xml *.gz *.zip *.eml);;All files (*)"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def percent(part: int, whole: int) -> str:
    return f"{part} ({round(100 * part / whole)} %)" if whole else "0"


def source_row(source: SourceSummary) -> tuple[object, ...]:
    days = str(source.first_day)
    if source.last_day != source.first_day:
        days = f"{source.first_day} – {source.last_day}"
    return (
        source.source_ip,
        source.ptr or "(no name)",
        source.messages,
        percent(source.dmarc_pass, source.messages),
        percent(source.spf_aligned, source.messages),
        percent(source.dkim_aligned, source.messages),
        f"{source.quarantined} / {source.rejected}",
        ", ".join(source.reporters),
        days,
    )


def import_summary(results: list[ImportResult]) -> tuple[str, str]:
    """The banner's message and hint after an import: counts, then each refusal's reason."""
    imported = [r for r in results if r.status == "imported"]
    duplicates = [r for r in results if r.status == "duplicate"]
    refused = [r for r in results if r.status == "refused"]
    parts = [f"{len(imported)} report{'s' if len(imported) != 1 else ''} imported"]
    if duplicates:
        parts.append(f"{len(duplicates)} already there")
    if refused:
        parts.append(f"{len(refused)} refused")
    hint = " ".join(f"{Path(r.source).name}: {r.message}" for r in refused)
    return ", ".join(parts) + ".", hint


class DmarcSourcesDialog(QDialog):
    """Sources by IP over a chosen period, and the same by reporter and day."""

    def __init__(self, store: Store, domain: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.domain = domain
        self.view: WhoSends | None = None
        self.setWindowTitle(f"Who sends as {domain}")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        # Reports arrive by mail (a day's worth at a time) while the window may be open.
        self.reads = LatestRead(self.refresh, banner=self.banner, when=self.isVisible)
        self.refresher = ShownRefresh(self, self.reads, REFRESH_MS)
        self.period_combo = QComboBox()
        self.period_combo.setAccessibleName("Period")
        for days, text in PERIODS:
            self.period_combo.addItem(text, days)
        self.period_combo.setCurrentIndex(self.period_combo.findData(DEFAULT_DAYS))
        self.period_combo.currentIndexChanged.connect(lambda _i: self.load())
        self.summary_label = muted(label(wrap=False))
        self.import_button = QPushButton("Import reports…")
        self.import_button.setToolTip("Read DMARC reports saved as files (XML, .gz, .zip, .eml)")
        self.import_button.clicked.connect(self.ask_for_files)
        self.import_button.setAutoDefault(False)
        self.names_button = QPushButton("Look up names")
        self.names_button.setToolTip("Ask DNS for the reverse name of each source IP")
        self.names_button.clicked.connect(self.look_up_names)
        self.names_button.setAutoDefault(False)
        self.sources = PlainTable(SOURCE_COLUMNS, stretch=SOURCE_COLUMNS.index("Reported by"))
        self.sources.setAccessibleName("Sources")
        self.daily = PlainTable(DAILY_COLUMNS, stretch=DAILY_COLUMNS.index("Policy applied"))
        self.daily.setAccessibleName("By reporter and day")
        tabs = QTabWidget()
        tabs.addTab(self.sources, "By source IP")
        tabs.addTab(self.daily, "By reporter and day")
        self.empty = EmptyState("icons/empty-domain.png", *self._empty_texts(None))
        self.stack = QStackedWidget()
        self.stack.addWidget(tabs)
        self.stack.addWidget(self.empty)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        toolbar = hbox(label("Period", wrap=False), self.period_combo, spacing=SPACE_S)
        toolbar.addWidget(self.summary_label, 1)
        toolbar.addWidget(self.names_button)
        toolbar.addWidget(self.import_button)
        intro = muted(
            label(
                "Every server that sent mail with your domain in the From, as the receiving "
                "mailbox providers report it: whether SPF and DKIM passed and aligned, and what "
                "the providers did with what failed."
            )
        )
        self.setLayout(
            vbox(
                heading(f"Who sends as {domain}"),
                intro,
                self.banner,
                toolbar,
                self.stack,
                buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_S,
            )
        )

    @property
    def days(self) -> int:
        return int(self.period_combo.currentData())

    @async_slot
    async def load(self) -> None:
        """Read the view for the chosen period and show it."""
        await self.refresh()

    async def refresh(self) -> None:
        """Read the view for the chosen period and show it (a newer period choice wins)."""
        from postdesk.core import dmarcreports

        days = self.days
        view = await asyncio.to_thread(dmarcreports.who_sends, self.store, self.domain, days)
        if days == self.days:
            self.show_view(view)

    def show_view(self, view: WhoSends) -> None:
        self.view = view
        self.sources.fill([source_row(s) for s in view.sources], numeric=(2,))
        self.daily.fill(
            [
                (
                    str(r.day),
                    r.reporter,
                    r.source_ip,
                    r.messages,
                    percent(r.dmarc_pass, r.messages),
                    r.disposition,
                )
                for r in view.daily
            ],
            numeric=(3,),
        )
        self.summary_label.setText(
            f"{plural(view.messages, 'message')} from {plural(len(view.sources), 'source')} "
            f"in {plural(view.reports, 'report')}"
        )
        heading_text, text = self._empty_texts(view.latest_day)
        self.empty.heading_label.setText(heading_text)
        self.empty.text_label.setText(text)
        self.stack.setCurrentIndex(0 if view.sources else 1)
        self.names_button.setEnabled(any(s.ptr is None for s in view.sources))

    def _empty_texts(self, latest_day: dt.date | None) -> tuple[str, str]:
        # Reports older than the period are there: say so, or "yet" would be untrue.
        if latest_day is not None:
            return (
                "No reports in this period",
                f"The newest report for {self.domain} covers {latest_day:%d %b %Y}. Choose a "
                "longer period, or All reports, to see it.",
            )
        return (
            "No DMARC reports yet",
            f"Mailbox providers send a daily report to the rua address of {self.domain}'s DMARC "
            "record. With reception on they arrive here by themselves; reports saved elsewhere "
            "can be imported.",
        )

    def ask_for_files(self) -> QFileDialog:
        """Choose report files (the dialog is opened, never exec'd), then import them."""
        dialog = QFileDialog(self, "Import DMARC reports", str(Path.home()), REPORT_FILES)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(lambda files: self.import_files([Path(f) for f in files]))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot(button="import_button")
    async def import_files(self, paths: list[Path]) -> list[ImportResult]:
        """Import report files off the GUI thread; the banner says what happened to each."""
        from postdesk.core import dmarcreports

        results = await asyncio.to_thread(dmarcreports.import_files, self.store, paths)
        message, hint = import_summary(results)
        refused = any(r.status == "refused" for r in results)
        self.banner.show_message("warning" if refused else "info", message, hint)
        await self.refresh()
        return results

    @async_slot(button="names_button")
    async def look_up_names(self) -> None:
        from postdesk.core import dmarcreports
        from postdesk.core.dnscheck.resolver import make_client

        store, domain = self.store, self.domain

        def resolve() -> int:
            # Its own loop in a worker: the lookups are async, but the store reads are not.
            return asyncio.run(dmarcreports.resolve_sources(store, domain, make_client()))

        named = await asyncio.to_thread(resolve)
        self.banner.show_message("info", f"{named} source names found.")
        await self.refresh()
