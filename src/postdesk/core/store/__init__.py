"""Storage: SQLAlchemy engine and sessions, with migrations applied when the store opens.

``Store`` and ``open_store`` load on first use: importing the package must not import SQLAlchemy,
so the read-only listing path (``postdesk.core.store.lite``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postdesk.core.store.database import Store, open_store

__all__ = ["Store", "open_store"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from postdesk.core.store import database

        return getattr(database, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
