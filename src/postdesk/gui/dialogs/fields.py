"""What every input dialog shares: the message under a field, and growing to show it whole."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel

from postdesk.gui.qtutils import label

# Inline messages under a field: red for a problem, the theme's muted colour for the rest.
ERROR_STYLE = "color: #b3261e;"
DIALOG_MIN_WIDTH = 460


def inline_message() -> QLabel:
    """An empty label for the message under a field."""
    widget = label()
    widget.hide()
    return widget


def show_inline(widget: QLabel, text: str, *, error: bool) -> None:
    widget.setText(text)
    widget.setStyleSheet(ERROR_STYLE if error else "")
    widget.setVisible(bool(text))


def grow_to_fit(dialog: QDialog, width: int | None = None) -> None:
    """Make ``dialog`` tall enough for a message that just appeared under a field.

    Qt does not grow an open window for word-wrapped text on its own; a two-line message would
    be cut to one. With ``width`` the dialog also keeps (or takes) that width, so it does not
    jump sideways when a longer text arrives.
    """
    layout = dialog.layout()
    if layout is None:
        return
    keep = width if width is not None else dialog.width()
    layout.activate()
    needed = layout.totalHeightForWidth(keep)
    if needed > dialog.height() or keep != dialog.width():
        dialog.resize(keep, max(needed, dialog.height()))
