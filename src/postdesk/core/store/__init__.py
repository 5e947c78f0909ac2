"""Storage: SQLAlchemy engine and sessions, with migrations applied when the store opens."""

from __future__ import annotations

from postdesk.core.store.database import Store, open_store

__all__ = ["Store", "open_store"]
