"""Settings: the workspace's relay, DNS record targets, tracking delay and blocklists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from postdesk.core import settings
from postdesk.core.errors import UserError
from postdesk.gui.asyncutil import busy, run_blocking, start_task
from postdesk.gui.dialogs.fields import inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_XS, hbox, label, muted, vbox

if TYPE_CHECKING:
    from postdesk.core.store import Store

# A running relay has to restart to pick up a change to one of these.
RELAY_KEYS = frozenset({"relay_host", "relay_port", "relay_security"})
SECURITY_CHOICES = (("starttls", "STARTTLS"), ("tls", "TLS"), ("none", "None"))
DNS_TARGETS = ("return_path_target", "tracking_target", "mx_target")
# The core takes sizes and delays below a million; the boxes stop there so nothing else is typed.
MAX_NUMBER = 999_999
MAX_PORT = 65535
BLOCKLIST_ROWS = 4
TOP = "top"  # messages about no single field


class WorkspaceSettingsDialog(QDialog):
    """Collects the workspace settings and saves them all together (or none) with ``save()``."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle("Settings")
        self.loaded: dict[str, Any] = {}
        #: The settings the last successful save changed (the window restarts the relay for some).
        self.changed_keys: set[str] = set()
        self.messages: dict[str, QLabel] = {TOP: inline_message()}
        self.relay_host = _line("localhost")
        self.relay_port = _spin(1, MAX_PORT)
        self.relay_security = QComboBox()
        for value, text in SECURITY_CHOICES:
            self.relay_security.addItem(text, value)
        self.relay_max_message_mb = _spin(1, MAX_NUMBER, " MB")
        self.return_path_target = _line("Not used")
        self.tracking_target = _line("Not used")
        self.mx_target = _line("Not used")
        self.dmarc_rua = _line("dmarc-reports@ each domain")
        self.tracking_delay_minutes = _spin(1, MAX_NUMBER, " minutes")
        self.blocklists = QPlainTextEdit()
        self.blocklists.setTabChangesFocus(True)
        line_height = self.blocklists.fontMetrics().lineSpacing()
        self.blocklists.setFixedHeight(line_height * BLOCKLIST_ROWS + SPACE_M)
        self.status = muted(label())
        self.status.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(False)  # until the current values are in the fields
        self.buttons.accepted.connect(lambda: start_task(self.save()))
        self.buttons.rejected.connect(self.reject)
        left = vbox(self._relay_group(), self._tracking_group(), spacing=SPACE_M)
        left.addStretch(1)
        right = vbox(self._dns_group(), self._blocklist_group(), spacing=SPACE_M)
        right.addStretch(1)
        columns = hbox(left, right, spacing=SPACE_M)
        columns.setStretch(0, 1)
        columns.setStretch(1, 1)
        footer = hbox(self.status, self.buttons)
        self.setLayout(
            vbox(
                self.messages[TOP],
                columns,
                footer,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )

    # --- building -----------------------------------------------------------------------------

    def _relay_group(self) -> QGroupBox:
        return self._group(
            "Built-in relay",
            ("relay_host", "Host name", "The name your apps connect to."),
            ("relay_port", "Port", "The port your apps connect to."),
            (
                "relay_security",
                "Security",
                "How apps encrypt the connection. None: this computer only.",
            ),
            ("relay_max_message_mb", "Size limit", "Larger messages are turned away."),
        )

    def _dns_group(self) -> QGroupBox:
        return self._group(
            "DNS records",
            (
                "return_path_target",
                "Return-path target",
                "Where bounces go. Empty: no return-path record.",
            ),
            (
                "tracking_target",
                "Tracking target",
                "Where open and click links point. Empty: no tracking record.",
            ),
            ("mx_target", "MX target", "The server that receives replies. Empty: no MX record."),
            (
                "dmarc_rua",
                "DMARC reports to",
                "Who gets DMARC reports. Empty: dmarc-reports@ each domain.",
            ),
            note="Used in the records you publish when you add a domain.",
        )

    def _tracking_group(self) -> QGroupBox:
        return self._group(
            "Tracking",
            (
                "tracking_delay_minutes",
                "Delay",
                "How long a change to open or click tracking takes to start.",
            ),
        )

    def _blocklist_group(self) -> QGroupBox:
        return self._group(
            "Blocklists",
            (
                "blocklists",
                "One name per line",
                "Checked for your sending IPs. Empty: Postdesk's usual lists.",
            ),
        )

    def _group(self, title: str, *rows: tuple[str, str, str], note: str = "") -> QGroupBox:
        layout = vbox(margin=SPACE_M, spacing=SPACE_M)
        if note:
            layout.addWidget(muted(label(note, wrap=False)))
        for key, text, explanation in rows:
            field = getattr(self, key)
            field.setAccessibleName(text or title)
            self.messages[key] = inline_message()
            parts = [label(text)] if text else []
            # One line each: wrapped labels make a dialog's height come out too small.
            parts += [field, muted(label(explanation, wrap=False)), self.messages[key]]
            layout.addLayout(vbox(*parts, spacing=SPACE_XS))
        box = QGroupBox(title)
        box.setLayout(layout)
        return box

    # --- loading and saving -------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the fields with the workspace's current settings."""
        store = self.store
        self.loaded = await run_blocking(lambda: _read(store))
        for key in ("relay_host", *DNS_TARGETS, "dmarc_rua"):
            getattr(self, key).setText(self.loaded[key] or "")
        for key in ("relay_port", "relay_max_message_mb", "tracking_delay_minutes"):
            getattr(self, key).setValue(int(self.loaded[key]))
        index = self.relay_security.findData(self.loaded["relay_security"])
        self.relay_security.setCurrentIndex(max(index, 0))
        self.blocklists.setPlainText("\n".join(self.loaded["blocklists"] or []))
        self.save_button.setEnabled(True)

    async def save(self) -> bool:
        """Check every field and save them together; close only when all were saved."""
        values, problems = self.collect()
        self._show_problems(problems)
        if problems:
            return False
        changes = {key: value for key, value in values.items() if self._changed(key, value)}
        store = self.store
        with busy(self.save_button, self.status, "Saving…"):
            refused = await run_blocking(lambda: _write(store, changes))
        if refused is not None:
            key, error = refused
            self._show_problems({key: f"{error.message} {error.hint}"})
            return False
        self.changed_keys = set(changes)
        self.accept()
        return True

    def collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """What the fields say (None: the default) and why any of them can't be used."""
        values: dict[str, Any] = {
            "relay_port": self.relay_port.value(),
            "relay_security": self.relay_security.currentData(),
            "relay_max_message_mb": self.relay_max_message_mb.value(),
            "tracking_delay_minutes": self.tracking_delay_minutes.value(),
        }
        problems: dict[str, str] = {}
        texts = {key: getattr(self, key).text().strip() for key in ("relay_host", *DNS_TARGETS)}
        texts["dmarc_rua"] = _without_mailto(self.dmarc_rua.text().strip())
        names = [line.strip() for line in self.blocklists.toPlainText().splitlines()]
        texts["blocklists"] = [name for name in names if name]
        for key, text in texts.items():
            try:
                values[key] = settings.check_value(key, text) if text else None
            except UserError as error:
                problems[key] = f"{error.message} {error.hint}"
        return values, problems

    def _changed(self, key: str, value: Any) -> bool:
        # Untouched fields are left alone, so they keep following Postdesk's defaults.
        effective = settings.DEFAULTS[key] if value is None else value
        return effective != self.loaded.get(key)

    def _show_problems(self, problems: dict[str, str]) -> None:
        for key, widget in self.messages.items():
            show_inline(widget, problems.get(key, ""), error=True)
        for key, text in problems.items():
            if key not in self.messages:
                show_inline(self.messages[TOP], text, error=True)
        # Wrapped messages need more height than a dialog's size hint allows for; grow to fit.
        if (layout := self.layout()) is not None:
            layout.activate()
        height = self.heightForWidth(self.width())
        if height > self.height():
            self.resize(self.width(), height)


def _line(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    return edit


def _spin(low: int, high: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSuffix(suffix)
    return box


def _without_mailto(text: str) -> str:
    # DMARC writes the address as mailto:…; Postdesk adds that itself.
    return text[len("mailto:") :] if text.lower().startswith("mailto:") else text


def _read(store: Store) -> dict[str, Any]:
    with store.session() as s:
        return {key: settings.get(s, key) for key in settings.EDITABLE}


def _write(store: Store, changes: dict[str, Any]) -> tuple[str, UserError] | None:
    """Save ``changes`` in one transaction; the first refused setting undoes them all."""
    key = ""
    try:
        with store.session() as s:
            for key, value in changes.items():
                settings.change(s, key, value)
    except UserError as error:
        return key, error
    return None
