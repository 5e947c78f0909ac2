"""Provider webhooks: the URL to paste into each provider, a Copy button, and whether a (test)
event has arrived, so a user sees the setup worked before the first real bounce."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from postdesk.gui.qtutils import SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.widgets.copyfield import CopyField
from postdesk.gui.widgets.stats_panel import local_time

if TYPE_CHECKING:
    # Only the type: the module (relay settings, keyring) loads when the rows are asked for.
    from postdesk.core.webhooks.urls import WebhookInfo

PROVIDER_NAMES = {
    "sendgrid": "SendGrid",
    "mailgun": "Mailgun",
    "postmark": "Postmark",
    "ses": "Amazon SES (SNS)",
}
RECEIVED_COLOUR = "#1d6b2c"
WAITING_COLOUR = "#a15c00"
NO_HOST = (
    "Set the tracking host in Settings… (or verify this domain's tracking address): the "
    "providers post their events to it."
)
HELP = (
    "Paste a URL into the provider's event webhook settings, give Postdesk the provider's key "
    "(Set key…), and send its test event. Bounces, complaints and unsubscribes then reach "
    "Activity and the suppression list."
)


def indicator(info: WebhookInfo) -> tuple[str, str]:
    """The state line under a provider's URL and its colour."""
    if info.last_event_at is not None:
        unmatched = (
            f", {info.unmatched:,} about mail Postdesk did not send" if info.unmatched else ""
        )
        text = (
            f"✓ Test event received — last event {local_time(info.last_event_at)}; "
            f"{info.received:,} in all{unmatched}"
        )
        return text, RECEIVED_COLOUR
    if not info.has_secret and info.provider != "postmark":  # Postmark's URL has a secret path
        return "No verification key stored yet: events would be refused.", WAITING_COLOUR
    return "No event received yet: send the provider's test event.", WAITING_COLOUR


class ProviderWebhooks(QWidget):
    """One row per provider: its name, its URL with Copy, and the "test event received" line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.no_host = muted(label(NO_HOST))
        self.no_host.hide()
        self.urls: dict[str, CopyField] = {}
        self.states: dict[str, QLabel] = {}
        self.key_buttons: dict[str, QPushButton] = {}
        # One block per provider (name and Set key…, the URL, the state line), each line the
        # whole width: the URLs and the state sentences stay readable at 900 px.
        blocks = []
        for provider, name in PROVIDER_NAMES.items():
            field = CopyField(name=f"{name} webhook URL", monospace=True)
            field.field.setPlaceholderText("needs a tracking host")
            state = label(selectable=True)
            key_button = QPushButton("Set key…")
            key_button.setAccessibleName(f"Set the {name} webhook key")
            self.urls[provider], self.states[provider] = field, state
            self.key_buttons[provider] = key_button
            title = hbox(label(name, wrap=False), spacing=SPACE_M)
            title.addStretch(1)
            title.addWidget(key_button)
            blocks.append(vbox(title, field, state, spacing=SPACE_XS))
        grid = vbox(*blocks, spacing=SPACE_M)
        self.rows = QWidget()
        self.rows.setLayout(vbox(self.no_host, grid, spacing=SPACE_S))
        self.rows.hide()
        # Asked for, not read at start: the keyring (which may ask to be unlocked) and the
        # endpoint's settings are needed only by someone setting up a provider.
        self.show_button = QPushButton("Show webhook addresses")
        buttons = hbox(self.show_button)
        buttons.addStretch(1)
        self.setLayout(vbox(muted(label(HELP)), buttons, self.rows, spacing=SPACE_S))

        self.revealed = False

    def reveal(self) -> None:
        """Show the rows (their values come with :meth:`show_status`)."""
        self.revealed = True
        self.show_button.hide()
        self.rows.show()

    def show_status(self, found: list[WebhookInfo]) -> None:
        """Show each provider's URL (or why there is none) and what arrived."""
        by_provider = {info.provider: info for info in found}
        self.no_host.setText(NO_HOST)
        self.no_host.setVisible(any(info.url is None for info in found))
        for provider, field in self.urls.items():
            info = by_provider.get(provider)
            if info is None:
                continue
            field.set_value(info.url or "")
            field.copy_button.setEnabled(info.url is not None)
            text, colour = indicator(info)
            self.states[provider].setText(text)
            self.states[provider].setStyleSheet(f"color: {colour};")

    def show_problem(self, text: str) -> None:
        """Say why the URLs cannot be shown (Postmark's secret path lives in the keyring)."""
        self.no_host.setText(text)
        self.no_host.show()

    def state_text(self, provider: str) -> str:
        return self.states[provider].text()
