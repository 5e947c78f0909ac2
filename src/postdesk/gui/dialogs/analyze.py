"""Analyze a message: paste headers or open an .eml, read what receivers said and what is wrong."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QWidget,
)

from postdesk.core.errors import UserError
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, hbox, label, muted, vbox
from postdesk.gui.widgets.problem_list import ProblemList

if TYPE_CHECKING:  # the analyzer loads when the dialog first analyzes, not at start-up
    from postdesk.core.analyze import MessageAnalysis
    from postdesk.core.report import Table

INTRO = (
    "Paste the headers of a message a customer received (in Gmail: Show original; in Outlook: "
    "View message source), or open the saved .eml file. Nothing is stored."
)
DIALOG_SIZE = (900, 720)
MAX_OPEN_BYTES = 50 * 1024 * 1024
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
EML_FILTER = "Messages (*.eml *.msg.txt *.txt);;All files (*)"


class AnalyzeDialog(QDialog):
    """Paste or open a message, press Analyze, read the findings, copy or save the report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Analyze a message")
        self.resize(*DIALOG_SIZE)
        self.analysis: MessageAnalysis | None = None
        self._opened: tuple[str, bytes] | None = None  # (file name, bytes) of an opened .eml
        self._task: asyncio.Task[None] | None = None

        self.text_edit = QPlainTextEdit()
        self.text_edit.setAccessibleName("Message headers")
        self.text_edit.setPlaceholderText("Paste the headers or the whole message here")
        self.text_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        # Tab moves on (a pasted message keeps its own tabs); Ctrl+Enter analyzes, as Enter
        # is a new line here.
        self.text_edit.setTabChangesFocus(True)
        self.text_edit.installEventFilter(self)
        self.text_edit.textChanged.connect(self._typed)
        self.open_button = QPushButton("Open .eml…")
        self.open_button.clicked.connect(self.choose_file)
        self.live_check = QCheckBox("Verify DKIM and ARC now and check the domain's DNS")
        self.live_check.setChecked(True)
        self.analyze_button = QPushButton("Analyze")
        self.analyze_button.clicked.connect(self.start_analysis)
        self.analyze_button.setToolTip("Ctrl+Enter in the message does the same")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.status_label = muted(label())

        self.verdict_label = label(selectable=True)
        bold = QFont(self.verdict_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.verdict_label.setFont(bold)
        self.findings = ProblemList("Nothing wrong found in this message.")
        self.details = QTabWidget()
        results = QWidget()
        results.setLayout(vbox(self.verdict_label, self.findings, self.details, spacing=SPACE_M))
        results.hide()
        self.results = results

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = self.buttons.addButton(
            "Copy report", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.save_button = self.buttons.addButton(
            "Save report…", QDialogButtonBox.ButtonRole.ActionRole
        )
        for button in (self.copy_button, self.save_button):
            button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_report)
        self.save_button.clicked.connect(self.save_report)
        self.buttons.rejected.connect(self.reject)
        self.rejected.connect(self.cancel_analysis)

        actions = hbox(self.open_button, self.live_check, self.analyze_button, self.cancel_button)
        actions.addStretch(1)
        source = QWidget()
        source.setLayout(vbox(self.text_edit, actions, self.status_label))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(source)
        splitter.addWidget(results)
        splitter.setStretchFactor(1, 2)
        layout = vbox(label(INTRO), margin=PAGE_MARGIN, spacing=SPACE_M)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.buttons)
        self.setLayout(layout)
        self.analyze_button.setAutoDefault(False)
        self._update()

    # --- input --------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+Enter in the message analyzes it."""
        if (
            watched is self.text_edit
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in ENTER_KEYS
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.start_analysis()
            return True
        return super().eventFilter(watched, event)

    def raw(self) -> bytes:
        """What will be analyzed: the opened file, or the pasted text."""
        if self._opened is not None:
            return self._opened[1]
        return self.text_edit.toPlainText().encode("utf-8")

    def _typed(self) -> None:
        if self._opened is not None and self.text_edit.toPlainText() != self._preview():
            self._opened = None  # editing the text means analyzing what is typed
        self._update()

    def _preview(self) -> str:
        assert self._opened is not None
        head = self._opened[1].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        return head.decode("utf-8", "replace")

    def _update(self) -> None:
        has_input = self._opened is not None or bool(self.text_edit.toPlainText().strip())
        self.analyze_button.setEnabled(has_input and self._task is None)

    def choose_file(self) -> None:
        dialog = QFileDialog(self, "Open a message", str(Path.home()), EML_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.open_file)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def open_file(self, path: str) -> None:
        """Read ``path`` in a worker thread, show its headers, keep its bytes for analysis."""
        from postdesk.gui.asyncutil import start_task

        start_task(self._read(Path(path)))

    async def _read(self, path: Path) -> None:
        from postdesk.cli.analyze import read_input

        self.status_label.setText(f"Opening {path.name}…")
        try:
            data = await asyncio.to_thread(read_input, str(path))
        except UserError as error:
            self.status_label.setText(f"{error.message} {error.hint}".strip())
            return
        self._opened = (path.name, data)
        self.text_edit.blockSignals(True)
        self.text_edit.setPlainText(self._preview())
        self.text_edit.blockSignals(False)
        size = f"{len(data) / 1024:.0f} KB"
        self.status_label.setText(f"Opened {path.name} ({size}); the whole message is analyzed.")
        self._update()

    # --- analysis -----------------------------------------------------------------------------

    def start_analysis(self) -> None:
        """Analyze in the background; the dialog stays usable and Cancel stops it."""
        if not self.analyze_button.isEnabled() or self._task is not None:
            return
        from postdesk.gui.asyncutil import start_task

        task = start_task(self._analyze(self.raw(), self.live_check.isChecked()))
        self._task = task  # type: ignore[assignment]
        task.add_done_callback(lambda _task: self._ended(task))

    def _ended(self, task: object) -> None:
        if self._task is task:
            self._task = None
            self.cancel_button.hide()
            self._update()

    async def _analyze(self, raw: bytes, live: bool) -> None:
        from postdesk.core.analyze import analyze_message

        self.analyze_button.setEnabled(False)
        self.cancel_button.show()
        self.status_label.setText(
            "Analyzing, verifying signatures and checking DNS…" if live else "Analyzing…"
        )
        try:
            analysis = await analyze_message(raw, check_dns=live)
        except asyncio.CancelledError:
            self.status_label.setText("Analysis cancelled.")
            raise
        except UserError as error:
            self.status_label.setText(f"{error.message} {error.hint}".strip())
            return
        finally:
            self._task = None
            self.cancel_button.hide()
            self._update()
        self.status_label.clear()
        self.show_analysis(analysis)

    def cancel_analysis(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def show_analysis(self, analysis: MessageAnalysis) -> None:
        """Show a ``MessageAnalysis``: a verdict line, the findings, and the detail tables."""
        from postdesk.core.report import from_analysis

        self.analysis = analysis
        report = from_analysis(analysis)
        serious = sum(1 for p in report.findings if p.severity != "info")
        if serious:
            self.verdict_label.setText(f"{serious} thing{'s' if serious != 1 else ''} to look at.")
        else:
            self.verdict_label.setText("Nothing wrong found in how this message was sent.")
        self.findings.set_problems(list(report.findings))
        self.details.clear()
        for table in report.tables:
            self.details.addTab(_table_widget(table), _short_title(table.title))
        self.results.show()
        for button in (self.copy_button, self.save_button):
            button.setEnabled(True)

    def copy_report(self) -> None:
        from postdesk.core.report import from_analysis, render_text

        if self.analysis is not None:
            text = render_text(from_analysis(self.analysis))
            QGuiApplication.clipboard().setText(text)
            self.status_label.setText("Report copied.")

    def save_report(self) -> None:
        from postdesk.core.report import from_analysis
        from postdesk.gui.reportsave import ask_and_save

        analysis = self.analysis
        if analysis is None:
            return
        subject = analysis.alignment.from_domain or "message"
        ask_and_save(self, lambda: from_analysis(analysis), subject, self.status_label)


def _short_title(title: str) -> str:
    return {
        "What the receiving servers said": "Receivers",
        "Received hops, first to last": "Hops",
        "Verified now": "Verified now",
        "Message": "Message",
        "Records": "DNS now",
    }.get(title, "Alignment" if title.startswith("Alignment") else title)


def _table_widget(table: Table) -> QTableWidget:
    headers, rows = list(table.headers), list(table.rows)
    widget = QTableWidget(len(rows), len(headers))
    widget.setHorizontalHeaderLabels(headers)
    widget.setAccessibleName(table.title)
    widget.verticalHeader().hide()
    widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    widget.setWordWrap(False)
    header = widget.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    if not any(headers):
        header.hide()
    for row, cells in enumerate(rows):
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            widget.setItem(row, column, item)
    return widget
