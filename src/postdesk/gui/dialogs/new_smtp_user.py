"""Create SMTP user: a login name and a password, generated (the default) or typed."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QRadioButton,
    QWidget,
)

from postdesk.core import credentials
from postdesk.core.domains import shown_name
from postdesk.core.errors import UserError
from postdesk.gui.dialogs.fields import (
    DIALOG_MIN_WIDTH,
    ERROR_STYLE,
    grow_to_fit,
    inline_message,
    show_inline,
)
from postdesk.gui.qtutils import (
    PAGE_MARGIN,
    SPACE_L,
    SPACE_M,
    SPACE_XS,
    hbox,
    label,
    make_default,
    muted,
    vbox,
)

__all__ = ["DIALOG_MIN_WIDTH", "ERROR_STYLE", "NewSmtpUserDialog", "PasswordChoice"]


class PasswordChoice(QWidget):
    """Generate a strong password (default) or type one, checked as it is typed."""

    changed = Signal()

    def __init__(self, login: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._login = login
        self.generate_radio = QRadioButton("Generate a strong password (recommended)")
        self.own_radio = QRadioButton("Type my own")
        self.generate_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.generate_radio)
        group.addButton(self.own_radio)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("New password")
        self.password_edit.setPlaceholderText(
            f"At least {credentials.MIN_PASSWORD_LENGTH} characters"
        )
        self.show_box = QCheckBox("Show")
        self.show_box.toggled.connect(self._toggle_echo)
        self.message = inline_message()
        self.own_row = QWidget()
        self.own_row.setLayout(
            vbox(hbox(self.password_edit, self.show_box), self.message, spacing=SPACE_XS)
        )
        self.own_row.setContentsMargins(SPACE_L, 0, 0, 0)
        for signal in (self.own_radio.toggled, self.password_edit.textChanged):
            signal.connect(self._update)
        self.own_radio.toggled.connect(self._focus_password)
        self.setLayout(vbox(self.generate_radio, self.own_radio, self.own_row, spacing=SPACE_XS))
        self._update()

    def set_login(self, login: str) -> None:
        """The login the password is for (a typed password must not contain it)."""
        self._login = login
        self._update()

    def typing(self) -> bool:
        return self.own_radio.isChecked()

    def password(self) -> str | None:
        """The typed password, or None to let Postdesk generate one."""
        return self.password_edit.text() if self.typing() else None

    def problem(self) -> str | None:
        """Why the typed password can't be used, or None."""
        if not self.typing():
            return None
        try:
            credentials.check_password_strength(self.password_edit.text(), login=self._login)
        except UserError as error:
            return f"{error.message} {error.hint}"
        return None

    def is_valid(self) -> bool:
        return self.problem() is None

    def _toggle_echo(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.password_edit.setEchoMode(mode)

    def _update(self) -> None:
        self.own_row.setEnabled(self.typing())
        self.own_row.setVisible(self.typing())
        if self.typing() and self.password_edit.text():
            problem = self.problem()
            show_inline(self.message, problem or "Strong enough.", error=problem is not None)
        else:
            show_inline(self.message, "", error=False)
        self.changed.emit()

    def _focus_password(self, typing: bool) -> None:
        if typing:
            self.password_edit.setFocus()


ROUTING_HELP = (
    "Mail from this login goes through the chosen service instead of the domain's (bulk mail "
    "apart from order mail, say). The domain's SPF record must then include that service too."
)


def sends_through_combo(services: list[str], domain_service: str | None) -> QComboBox:
    """The domain's own service first (data None), then every service by name."""
    combo = QComboBox()
    combo.setAccessibleName("Sends through")
    own = f"The domain's service ({domain_service})" if domain_service else "The domain's service"
    combo.addItem(own, None)
    for name in services:
        if name != domain_service:
            combo.addItem(name, name)
    return combo


class NewSmtpUserDialog(QDialog):
    """Collects a login name and a password choice; the page creates the user."""

    def __init__(
        self,
        domain: str,
        existing: list[str],
        parent: QWidget | None = None,
        *,
        services: list[str] | None = None,
        domain_service: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.domain = domain
        self._existing = set(existing)
        self.setWindowTitle("Create SMTP user")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        intro = label(
            f"An app — your shop, CRM or warm-up tool — signs in with this login to send "
            f"email from {shown_name(domain)}. Give each app its own login."
        )
        self.login_edit = QLineEdit()
        self.login_edit.setPlaceholderText("e.g. shop")
        self.login_edit.setAccessibleName("Login name")
        self.login_message = inline_message()
        self.username_label = muted(label(selectable=True))
        self.password_choice = PasswordChoice()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton(
            "Create SMTP user", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.login_edit.textChanged.connect(lambda: self.password_choice.set_login(self.login()))
        self.login_edit.textChanged.connect(self._update)
        self.password_choice.changed.connect(self._update)
        login_block = vbox(
            label("Login name"),
            self.login_edit,
            self.login_message,
            self.username_label,
            spacing=SPACE_XS,
        )
        password_block = vbox(label("Password"), self.password_choice, spacing=SPACE_XS)
        self.service_combo = sends_through_combo(services or [], domain_service)
        service_block = vbox(
            label("Sends through"),
            self.service_combo,
            muted(label(ROUTING_HELP)),
            spacing=SPACE_XS,
        )
        service_block_widget = QWidget()
        service_block_widget.setLayout(service_block)
        # With one service (or none) there is nothing to choose.
        service_block_widget.setVisible(len(services or []) > 1)
        self.setLayout(
            vbox(
                intro,
                login_block,
                password_block,
                service_block_widget,
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.create_button)
        self._update()

    def login(self) -> str:
        """The login name as it will be stored (lowercase)."""
        return self.login_edit.text().strip().lower()

    def password(self) -> str | None:
        return self.password_choice.password()

    def service(self) -> str | None:
        """The service chosen for this login; None: the domain's own."""
        data = self.service_combo.currentData()
        return str(data) if data else None

    def login_problem(self) -> str | None:
        """Why the login name can't be used, or None (the same check the CLI makes)."""
        try:
            name = credentials.check_login(self.login_edit.text())
        except UserError as error:
            return f"{error.message} {error.hint}"
        if name in self._existing:
            return (
                f"{credentials.username(name, self.domain)} already exists. Pick another "
                "login name, or reset that user's password."
            )
        return None

    def _update(self) -> None:
        typed = bool(self.login_edit.text().strip())
        problem = self.login_problem() if typed else None
        show_inline(self.login_message, problem or "", error=True)
        self.username_label.setText(
            f"Apps sign in as {credentials.username(self.login(), self.domain)}"
            if typed and problem is None
            else f"Apps sign in as login-name@{self.domain}"
        )
        self.create_button.setEnabled(typed and problem is None and self.password_choice.is_valid())
        grow_to_fit(self)

    def _accept_if_valid(self) -> None:
        if self.create_button.isEnabled():
            self.accept()
