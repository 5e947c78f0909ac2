"""DKIM-signing outgoing mail with the domain's active key (dkimpy, relaxed/relaxed)."""

from __future__ import annotations

import dkim

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
)


def _present_headers(message: bytes) -> list[str]:
    head = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    names = set()
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        names.add(line.split(b":", 1)[0].strip().lower().decode("ascii", "replace"))
    return [h for h in SIGNED_HEADERS if h in names]


def sign(message: bytes, *, domain: str, selector: str, private_pem: str) -> bytes:
    """The message with a DKIM-Signature header in front (CPU-bound: call it in a thread).

    Only the listed headers that the message has are signed, so a header an upstream adds
    later (e.g. Reply-To) does not break the signature.
    """
    signature = dkim.sign(
        message,
        selector.encode("ascii"),
        domain.encode("ascii"),
        private_pem.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h.encode("ascii") for h in _present_headers(message)],
    )
    # dkimpy ends the header with a bare LF; the message itself uses CRLF throughout.
    return signature.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + message
