"""Add Service / Edit service: a provider preset, the connection fields and the login.

The dialog only collects and checks input (with the same ``validate_form`` the command line uses);
the page saves it.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from postdesk.core.presets import PRESETS, SES_DEFAULT_REGION, SES_REGIONS, Preset
from postdesk.core.services import SECURITY_CHOICES, SECURITY_LABELS, ServiceForm, validate_form
from postdesk.core.views import ServiceView
from postdesk.gui.dialogs.fields import ERROR_STYLE, grow_to_fit, inline_message
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

# Amber that stays readable on light and dark backgrounds: a warning allows Save.
WARNING_STYLE = "color: #a15c00;"
DIALOG_MIN_WIDTH = 520
KEEP_PASSWORD = "Leave empty to keep the stored password"
FIELDS = ("name", "host", "port", "security", "username", "password")
_SES_HOST = re.compile(r"^email-smtp\.([a-z0-9-]+)\.amazonaws\.com$")


def spf_sentence(preset: Preset) -> str:
    """What the provider asks the user's domains to publish, in a sentence."""
    if preset.spf_include:
        return (
            f"Domains that send through {preset.label} get include:{preset.spf_include} in the "
            "SPF record Postdesk asks you to publish."
        )
    return (
        "A custom server adds no SPF include. If your provider gives you one, add it to your "
        "domain's SPF record as the provider explains."
    )


class ServiceFormDialog(QDialog):
    """Collects a ServiceForm. With ``service`` it edits that service (empty password = keep)."""

    def __init__(
        self,
        existing_names: list[str],
        service: ServiceView | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.editing = service is not None
        self._existing = {n.casefold() for n in existing_names}
        if service is not None:
            self._existing.discard(service.name.casefold())
        self._touched: set[str] = set()
        self._auto_name = ""
        self.pin_removed = False
        self.setWindowTitle(f"Edit {service.name}" if service else "Add Service")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self._build()
        if service is None:
            self.provider_combo.setCurrentIndex(self.provider_combo.findData("sendgrid"))
            self._apply_preset()
        else:
            self._load(service)
        self._connect()
        self._update()

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.provider_combo = QComboBox()
        for preset in PRESETS.values():
            self.provider_combo.addItem(preset.label, preset.key)
        self.region_combo = QComboBox()
        self.region_combo.addItems(SES_REGIONS)
        self.note_label = muted(label())
        self.spf_label = muted(label())
        self.name_edit = QLineEdit()
        self.host_edit = QLineEdit()
        self.port_edit = QLineEdit()
        self.security_combo = QComboBox()
        for key in SECURITY_CHOICES:
            self.security_combo.addItem(SECURITY_LABELS[key], key)
        self.username_edit = QLineEdit()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_password = QCheckBox("Show")
        self.default_box = QCheckBox("Make this the default service")
        self.messages: dict[str, QLabel] = {name: inline_message() for name in FIELDS}
        self.password_label = QLabel()

        form = QFormLayout()
        form.setSpacing(SPACE_S)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Provider", vbox(self.provider_combo, self.note_label, spacing=SPACE_XS))
        self.region_label = QLabel("Region")
        form.addRow(self.region_label, self.region_combo)
        form.addRow("Name", self._with_message(self.name_edit, "name"))
        form.addRow("Host", self._with_message(self.host_edit, "host"))
        form.addRow("Port", self._with_message(self.port_edit, "port"))
        form.addRow("Security", self._with_message(self.security_combo, "security"))
        form.addRow("Username", self._with_message(self.username_edit, "username"))
        password_row = hbox(self.password_edit, self.show_password, spacing=SPACE_S)
        form.addRow(
            self.password_label, vbox(password_row, self.messages["password"], spacing=SPACE_XS)
        )
        for name, edit in self._edits().items():
            edit.setAccessibleName(name.capitalize())
        self.password_edit.setAccessibleName("Password")
        self.provider_combo.setAccessibleName("Provider")
        self.region_combo.setAccessibleName("Region")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton(
            "Save" if self.editing else "Add Service", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.pin_row = self._build_pin_row()
        layout = vbox(
            form,
            self.spf_label,
            self.pin_row,
            self.default_box,
            self.buttons,
            margin=PAGE_MARGIN,
            spacing=SPACE_M,
        )
        self.setLayout(layout)
        make_default(self.save_button)

    def _with_message(self, widget: QWidget, name: str):  # type: ignore[no-untyped-def]
        return vbox(widget, self.messages[name], spacing=SPACE_XS)

    def _build_pin_row(self) -> QWidget:
        self.pin_label = muted(label(selectable=True))
        self.remove_pin_button = QPushButton("Remove pin")
        self.remove_pin_button.clicked.connect(self._remove_pin)
        layout = hbox(self.pin_label, self.remove_pin_button, spacing=SPACE_S)
        layout.setStretch(0, 1)
        row = QWidget()
        row.setLayout(layout)
        pinned = self.service.pinned_sha256 if self.service else None
        row.setVisible(bool(pinned))
        if pinned:
            self.pin_label.setText(
                f"Trusted certificate (pinned): {pinned}. Postdesk accepts this exact "
                "certificate even though no known authority signed it."
            )
        return row

    def _edits(self) -> dict[str, QLineEdit]:
        return {
            "name": self.name_edit,
            "host": self.host_edit,
            "port": self.port_edit,
            "username": self.username_edit,
            "password": self.password_edit,
        }

    def _connect(self) -> None:
        self.provider_combo.currentIndexChanged.connect(self._provider_chosen)
        self.region_combo.currentIndexChanged.connect(self._region_chosen)
        for name, edit in self._edits().items():
            # Typing marks a field as reached; any change (a preset, a paste) re-checks the form.
            edit.textEdited.connect(lambda _text, name=name: self._touch(name))
            edit.textChanged.connect(self._update)
        self.security_combo.currentIndexChanged.connect(lambda: self._touch("security"))
        self.show_password.toggled.connect(self._toggle_echo)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)

    def _load(self, service: ServiceView) -> None:
        index = self.provider_combo.findData(service.preset)
        self.provider_combo.setCurrentIndex(max(index, self.provider_combo.findData("custom")))
        if match := _SES_HOST.match(service.host):
            self.region_combo.setCurrentText(match[1])
        self.name_edit.setText(service.name)
        self.host_edit.setText(service.host)
        self.port_edit.setText(str(service.port))
        self.security_combo.setCurrentIndex(self.security_combo.findData(service.security))
        self.username_edit.setText(service.username)
        self.password_edit.setPlaceholderText(KEEP_PASSWORD)
        if service.is_default:
            self.default_box.setChecked(True)
            self.default_box.setEnabled(False)
            self.default_box.setText("This is the default service")
        self._show_preset(self.preset())

    # --- the preset ---------------------------------------------------------------------------

    def preset(self) -> Preset:
        return PRESETS[str(self.provider_combo.currentData())]

    def _provider_chosen(self) -> None:
        width = self.width()
        self._apply_preset()
        self._update()
        # Another provider brings a longer note; the dialog grows down, never sideways.
        grow_to_fit(self, width)

    def _apply_preset(self) -> None:
        """Fill host, port, security and (for SendGrid) the username from the chosen provider."""
        preset = self.preset()
        self._show_preset(preset)
        self.host_edit.setText(preset.host_for(self.region_combo.currentText()))
        self.port_edit.setText(str(preset.port))
        self.security_combo.setCurrentIndex(self.security_combo.findData(preset.security))
        if preset.fixed_username:
            self.username_edit.setText(preset.fixed_username)
        elif self.username_edit.text() in {p.fixed_username for p in PRESETS.values()}:
            self.username_edit.clear()  # "apikey" means nothing to another provider
        # The name follows the provider until the user types one of their own.
        if self.name_edit.text() in ("", self._auto_name):
            self._auto_name = preset.label if preset.key != "custom" else ""
            self.name_edit.setText(self._auto_name)

    def _show_preset(self, preset: Preset) -> None:
        self.note_label.setText(preset.note)
        self.spf_label.setText(spf_sentence(preset))
        is_ses = preset.key == "ses"
        self.region_label.setVisible(is_ses)
        self.region_combo.setVisible(is_ses)
        if not is_ses:
            self.region_combo.setCurrentText(SES_DEFAULT_REGION)
        self.password_label.setText(preset.password_label)
        self.password_edit.setAccessibleName(preset.password_label)
        self.username_edit.setPlaceholderText(preset.username_hint)
        self.username_edit.setReadOnly(preset.fixed_username is not None)
        self.username_edit.setToolTip(
            f"{preset.label} always uses this username." if preset.fixed_username else ""
        )
        self.host_edit.setPlaceholderText("smtp.example.com")

    def _region_chosen(self) -> None:
        if self.preset().key == "ses":
            self.host_edit.setText(self.preset().host_for(self.region_combo.currentText()))
            self._update()

    # --- checking -----------------------------------------------------------------------------

    def form(self) -> ServiceForm:
        """What the user typed; in edit mode an empty password means "keep the stored one"."""
        return ServiceForm(
            name=self.name_edit.text().strip(),
            host=self.host_edit.text().strip(),
            port=self.port_edit.text().strip(),
            security=str(self.security_combo.currentData()),
            username=self.username_edit.text().strip(),
            password=self.password_edit.text() or None,
            preset=self.preset().key,
            make_default=self.default_box.isChecked() and self.default_box.isEnabled(),
        )

    def problems(self) -> tuple[dict[str, str], dict[str, str]]:
        """Blocking problems and warnings per field."""
        check = validate_form(self.form(), password_required=not self.editing)
        errors = dict(check.errors)
        name = self.name_edit.text().strip()
        if name and name.casefold() in self._existing:
            errors.setdefault("name", f"A service called '{name}' already exists. Pick another.")
        return errors, dict(check.warnings)

    def _touch(self, name: str) -> None:
        self._touched.add(name)
        self._update()

    def _update(self) -> None:
        errors, warnings = self.problems()
        for name, widget in self.messages.items():
            # A field the user has not reached yet is not wrong yet; warnings always show.
            error = errors.get(name) if name in self._touched else None
            text = error or warnings.get(name, "")
            widget.setText(text)
            widget.setStyleSheet(ERROR_STYLE if error else WARNING_STYLE)
            widget.setVisible(bool(text))
        grow_to_fit(self)

    def _accept_if_valid(self) -> None:
        errors, _warnings = self.problems()
        if errors:
            self._touched.update(FIELDS)
            self._update()
            first = next((name for name in FIELDS if name in errors), None)
            if first in self._edits():
                self._edits()[first].setFocus()
            return
        self.accept()

    def _toggle_echo(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.password_edit.setEchoMode(mode)

    def _remove_pin(self) -> None:
        self.pin_removed = True
        self.remove_pin_button.setEnabled(False)
        self.pin_label.setText(
            "The pinned certificate will be forgotten when you save. A certificate no known "
            "authority signed will be refused again."
        )
