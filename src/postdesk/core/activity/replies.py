"""The provider's own id for a message (kept in ``postdesk.core.providerid``, which loads no store
modules, so the command line's light test send can read it too)."""

from __future__ import annotations

from postdesk.core.providerid import provider_message_id

__all__ = ["provider_message_id"]
