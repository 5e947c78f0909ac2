"""What the Conversations tab shows while no domain receives mail: why, and a way to start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QPushButton, QWidget

from postdesk.gui.qtutils import SPACE_S, hbox, label, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.widgets.emptystate import EmptyState

if TYPE_CHECKING:
    from postdesk.core.views import DomainView

DOMAINS_TAB = Tab.DOMAINS.title
NO_RECEPTION_TEXT = (
    "Mail sent to an address on a verified dedicated domain appears here once Postdesk receives "
    f"that domain's mail. Turn reception on below (or with: postdesk domain reception DOMAIN "
    f"--on), publish the MX record it adds on {DOMAINS_TAB}, and have the relay listen for "
    "inbound mail (the inbound_listen setting, or postdesk relay --inbound)."
)
NO_DOMAIN_TEXT = (
    f"Add your domain on {DOMAINS_TAB} and verify it; then Postdesk can receive the mail sent "
    "to its addresses here. There are no mailboxes: no POP, no IMAP."
)


class ReceptionOffer(QWidget):
    """An empty state; with verified domains, a picker and "Receive mail for this domain"."""

    #: The user asked to receive the mail of a domain (its stored name).
    turn_on = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty = EmptyState(
            "icons/empty-domain.png",
            "No domain receives mail yet",
            NO_RECEPTION_TEXT,
            button_text=f"Open {DOMAINS_TAB}",
        )
        self.domain_combo = QComboBox()
        self.domain_combo.setAccessibleName("Domain to receive mail for")
        self.domain_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.turn_on_button = QPushButton("Receive mail for this domain")
        self.turn_on_button.clicked.connect(self._turn_on)
        self.offer = QWidget()
        row = hbox(label("Domain", wrap=False), self.domain_combo, self.turn_on_button)
        row.setSpacing(SPACE_S)
        self.offer.setLayout(row)
        layout = vbox(self.empty)
        layout.addWidget(self.offer, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.setLayout(layout)

    def show_domains(self, domains: list[DomainView]) -> None:
        """Offer the verified domains that do not receive mail yet (none: explain the start)."""
        candidates = [d for d in domains if d.status == "verified" and not d.reception]
        self.domain_combo.clear()
        for domain in candidates:
            self.domain_combo.addItem(domain.shown, domain.name)
        self.offer.setVisible(bool(candidates))
        self.empty.text_label.setText(NO_RECEPTION_TEXT if candidates else NO_DOMAIN_TEXT)

    def _turn_on(self) -> None:
        name = self.domain_combo.currentData()
        if name:
            self.turn_on.emit(str(name))
