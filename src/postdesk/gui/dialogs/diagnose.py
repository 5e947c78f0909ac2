"""Diagnose a domain: any domain's SPF, DKIM, DMARC and MX, checked live; nothing is stored."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core.domainview import domain_report_text, report_problems
from postdesk.core.errors import UserError
from postdesk.core.records import KIND_LABELS
from postdesk.core.validation import display_domain, normalize_domain
from postdesk.gui.dialogs.fields import inline_message, show_inline
from postdesk.gui.qtutils import (
    PAGE_MARGIN,
    SPACE_M,
    SPACE_S,
    SPACE_XS,
    hbox,
    label,
    make_default,
    muted,
    vbox,
)
from postdesk.gui.widgets.problem_list import ProblemList
from postdesk.gui.widgets.records_table import STATUS_WORDS

if TYPE_CHECKING:  # the DNS checks load when a diagnosis runs, not with the page
    from postdesk.core.dnscheck.domain import DomainReport

INTRO = (
    "Check any domain's SPF, DKIM, DMARC and MX records — and MTA-STS, TLS reporting, BIMI, "
    "DNSSEC and its mail servers' STARTTLS — the way receiving mail servers see them. Nothing "
    "is saved: use it for domains you are helping with, not only your own."
)
DIALOG_SIZE = (760, 640)
SUMMARY_COLUMNS = ("Record", "Host", "Status", "Found")
# A DKIM selector is one or more DNS labels (letters, digits, hyphens, underscores).
_SELECTOR = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_-]{1,63})*")


def parse_selectors(text: str) -> list[str]:
    """The DKIM selectors typed, separated by commas or spaces; UserError for a bad one."""
    selectors = [s.strip().lower() for s in re.split(r"[,\s]+", text) if s.strip()]
    for selector in selectors:
        if not _SELECTOR.fullmatch(selector):
            raise UserError(
                "dkim.selector_invalid",
                f"“{selector}” is not a DKIM selector.",
                "Type only the part before ._domainkey, e.g. s1 or google.",
            )
    return selectors


class DiagnoseDialog(QDialog):
    """Type a domain (and DKIM selectors), press Check, read the problems, copy the report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diagnose a domain")
        self.resize(*DIALOG_SIZE)
        self.report: dict[str, object] | None = None
        self._task: asyncio.Task[None] | None = None

        self.domain_edit = QLineEdit()
        self.domain_edit.setPlaceholderText("e.g. example.com")
        self.domain_edit.setAccessibleName("Domain")
        self.domain_message = inline_message()
        self.selectors_edit = QLineEdit()
        self.selectors_edit.setPlaceholderText("optional, comma separated, e.g. s1, google")
        self.selectors_edit.setAccessibleName("DKIM selectors")
        self.selectors_message = inline_message()
        # Port 25 is blocked on many home and office networks: the probe can be left out, and
        # a probe that reaches nothing is reported as such, never as a failure.
        self.mx_tls_box = QCheckBox("Also try STARTTLS on each mail server (port 25)")
        self.mx_tls_box.setChecked(True)
        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.start_check)
        self.cancel_check_button = QPushButton("Cancel check")
        self.cancel_check_button.hide()
        self.cancel_check_button.clicked.connect(self.cancel_check)
        self.status_label = muted(label(wrap=False))
        for edit in (self.domain_edit, self.selectors_edit):
            edit.textChanged.connect(self._update)

        self.verdict_label = label(selectable=True)
        bold = QFont(self.verdict_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.verdict_label.setFont(bold)
        self.summary = self._build_summary()
        self.problems = ProblemList("No problems found with these records.")
        results = QWidget()
        results.setLayout(vbox(self.verdict_label, self.summary, self.problems, spacing=SPACE_M))
        self.results_area = QScrollArea()
        self.results_area.setWidgetResizable(True)
        self.results_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.results_area.setWidget(results)
        self.results_area.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = self.buttons.addButton(
            "Copy report", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_report)
        self.save_button = self.buttons.addButton(
            "Save report…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_report)
        self.domain_report: DomainReport | None = None  # the last check, for Save report
        self.buttons.rejected.connect(self.reject)
        self.rejected.connect(self.cancel_check)

        fields = vbox(
            label("Domain"),
            self.domain_edit,
            self.domain_message,
            label("DKIM selectors"),
            self.selectors_edit,
            self.selectors_message,
            self.mx_tls_box,
            spacing=SPACE_XS,
        )
        actions = hbox(self.check_button, self.cancel_check_button, self.status_label)
        actions.addStretch(1)
        layout = vbox(label(INTRO), fields, actions, margin=PAGE_MARGIN, spacing=SPACE_M)
        layout.addWidget(self.results_area, 1)
        # Until there are results this takes the spare height, so the labels stay by their
        # fields instead of drifting apart; the results (stretch 1) take it once shown.
        layout.addStretch(0)
        layout.addWidget(self.buttons)
        self.setLayout(layout)
        make_default(self.check_button)
        self._update()

    def _build_summary(self) -> QTableWidget:
        table = QTableWidget(0, len(SUMMARY_COLUMNS))
        table.setHorizontalHeaderLabels(SUMMARY_COLUMNS)
        table.setAccessibleName("Records found")
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setShowGrid(False)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return table

    # --- input --------------------------------------------------------------------------------

    def _problems(self) -> tuple[str, str]:
        domain_problem = selector_problem = ""
        if self.domain_edit.text().strip():
            try:
                normalize_domain(self.domain_edit.text())
            except UserError as error:
                domain_problem = f"{error.message} {error.hint}".strip()
        try:
            parse_selectors(self.selectors_edit.text())
        except UserError as error:
            selector_problem = f"{error.message} {error.hint}".strip()
        return domain_problem, selector_problem

    def _update(self) -> None:
        domain_problem, selector_problem = self._problems()
        show_inline(self.domain_message, domain_problem, error=True)
        show_inline(self.selectors_message, selector_problem, error=True)
        ready = (
            bool(self.domain_edit.text().strip()) and not domain_problem and not selector_problem
        )
        self.check_button.setEnabled(ready and self._task is None)

    # --- checking -----------------------------------------------------------------------------

    def start_check(self) -> None:
        """Run the check in the background; the dialog stays usable and Cancel check stops it."""
        # Enter presses the default Check button, so this is the one way a check starts.
        if not self.check_button.isEnabled() or self._task is not None:
            return
        from postdesk.gui.asyncutil import start_task

        domain = normalize_domain(self.domain_edit.text())
        selectors = parse_selectors(self.selectors_edit.text())
        task = start_task(self._check(domain, selectors))
        self._task = task  # type: ignore[assignment]
        # Cancelled before it began, the check never reaches its own clean-up.
        task.add_done_callback(lambda _task: self._check_ended(task))

    def _check_ended(self, task: object) -> None:
        if self._task is task:
            self._task = None
            self.cancel_check_button.hide()
            self._update()

    async def _check(self, domain: str, selectors: list[str]) -> None:
        from postdesk.core.dnscheck import diagnose_domain
        from postdesk.core.dnscheck.mxtls import MxTlsOptions
        from postdesk.core.dnscheck.newer import NewerOptions

        # The same checks as `postdesk check`: the newer standards (MTA-STS, TLS-RPT, BIMI,
        # DNSSEC) and, unless turned off, the mail servers' STARTTLS.
        newer = NewerOptions(mx_tls=MxTlsOptions(skip=not self.mx_tls_box.isChecked()))
        self.check_button.setEnabled(False)
        self.cancel_check_button.show()
        self.status_label.setText(f"Checking DNS for {display_domain(domain)}…")
        try:
            report = await diagnose_domain(domain, selectors, newer=newer)
        except asyncio.CancelledError:
            self.status_label.setText("Check cancelled.")
            raise
        except UserError as error:
            self.status_label.setText(f"{error.message} {error.hint}".strip())
            return
        finally:
            self._task = None
            self.cancel_check_button.hide()
            self._update()
        self.status_label.clear()
        self.domain_report = report
        self.show_report(report.as_dict())

    def cancel_check(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def show_report(self, report: dict[str, object]) -> None:
        """Show a diagnosis (as ``DomainReport.as_dict()``): verdict, records, problems."""
        self.report = report
        records = list(report.get("records", []))  # type: ignore[call-overload]
        problems = report_problems(report)
        serious = sum(1 for _host, p in problems if p.severity != "info")
        shown = display_domain(str(report["domain"]))
        if records and all(r["status"] == "error" for r in records):
            self.verdict_label.setText(
                f"{shown} could not be checked: the DNS servers did not answer. Nothing is known "
                "about its records yet."
            )
        elif report.get("status") == "ok" and not serious:
            self.verdict_label.setText(f"{shown}: SPF, DKIM and DMARC look right.")
        else:
            count = f"{serious} thing{'s' if serious != 1 else ''}"
            self.verdict_label.setText(f"{shown}: {count} to fix or check.")
        self.summary.setRowCount(len(records))
        for row, record in enumerate(records):
            word = STATUS_WORDS.get(str(record["status"]), ("", str(record["status"])))[1]
            found = "; ".join(record.get("found") or [])
            if not found:
                found = "—" if record["status"] == "error" else "nothing"
            cells = (KIND_LABELS.get(str(record["kind"]), str(record["kind"])), record["host"])
            for column, text in enumerate((*cells, word, found)):
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(text))
                self.summary.setItem(row, column, item)
        self.summary.setFixedHeight(
            self.summary.horizontalHeader().height()
            + sum(self.summary.rowHeight(r) for r in range(len(records)))
            + 2 * self.summary.frameWidth()
            + SPACE_S
        )
        self.problems.set_problems(problems)
        self.results_area.show()
        self.copy_button.setEnabled(True)
        saved = self.domain_report
        self.save_button.setEnabled(saved is not None and saved.domain == report["domain"])

    def copy_report(self) -> None:
        """Put the report on the clipboard as plain text, ready for a support ticket."""
        if self.report is not None:
            text = domain_report_text(self.report, title="Domain diagnosis")
            QGuiApplication.clipboard().setText(text)
            self.copy_button.setText("Copied")

    def save_report(self) -> None:
        """Save the last diagnosis as one file to hand over (HTML, text or JSON)."""
        from postdesk.core.report import from_domain_report
        from postdesk.gui.reportsave import ask_and_save

        report = self.domain_report
        if report is not None:
            build = lambda: from_domain_report(report)  # noqa: E731
            ask_and_save(self, build, report.domain, self.status_label)
