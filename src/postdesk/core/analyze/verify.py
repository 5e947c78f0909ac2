"""DKIM signatures and the ARC chain verified now, with dkimpy.

The public keys are fetched first, all at once, through the project's resolver (so
``POSTDESK_NAMESERVERS`` applies and nothing blocks the event loop); dkimpy then runs in a worker
thread and reads them from memory. "Now" can differ from what the receiver saw: a key rotated
since, or a message re-encoded after delivery, fails today although it passed then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import dkim

from postdesk.core.analyze.authres import tag_list
from postdesk.core.analyze.parse import ParsedMessage
from postdesk.core.dnscheck.resolver import Answer, DnsClient


@dataclass(frozen=True)
class SignatureCheck:
    """One DKIM-Signature verified now."""

    domain: str
    selector: str
    ok: bool
    reason: str  # why it failed, in plain words; "" when it verified
    body_changed: bool
    key_unavailable: bool  # the key could not be fetched (DNS failure), so nothing is known
    signed_headers: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "ok": self.ok,
            "reason": self.reason,
            "body_changed": self.body_changed,
            "key_unavailable": self.key_unavailable,
            "signed_headers": list(self.signed_headers),
        }


@dataclass(frozen=True)
class ArcCheck:
    """The ARC chain validated now: ``pass``, ``fail`` or ``none`` (not ARC-signed)."""

    result: str
    reason: str
    instances: int

    def as_dict(self) -> dict[str, object]:
        return {"result": self.result, "reason": self.reason, "instances": self.instances}


class _Collect(logging.Handler):
    """Keeps dkimpy's error lines: they are the only place it says why a key was unusable."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _logger() -> tuple[logging.Logger, _Collect]:
    logger = logging.Logger("postdesk.analyze.dkim")  # private: never reaches the log file
    collect = _Collect()
    logger.addHandler(collect)
    return logger, collect


def key_names(message: ParsedMessage) -> list[str]:
    """The ``<selector>._domainkey.<domain>`` names every signature and seal needs."""
    names: list[str] = []
    for header in ("DKIM-Signature", "ARC-Message-Signature", "ARC-Seal"):
        for value in message.all(header):
            tags = tag_list(value)
            if tags.get("s") and tags.get("d"):
                name = f"{tags['s']}._domainkey.{tags['d']}".lower()
                if name not in names:
                    names.append(name)
    return names


async def fetch_keys(client: DnsClient, names: list[str]) -> dict[str, Answer]:
    """Every key record at once."""
    answers = await asyncio.gather(*(client.query(name, "TXT") for name in names))
    return dict(zip(names, answers, strict=True))


def _dnsfunc(keys: dict[str, Answer]):  # type: ignore[no-untyped-def]
    def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        answer = keys.get(text.lower().rstrip("."))
        if answer is None or answer.empty:
            return None
        if answer.failed:
            raise dkim.DnsTimeoutError(f"{answer.status} asking for {text.rstrip('.')}")
        return answer.values[0].encode("utf-8")

    return lookup


def _plain_reason(error: str) -> tuple[str, bool]:
    lowered = error.lower()
    if "body hash mismatch" in lowered:
        return "the body was changed after signing (body hash mismatch)", True
    if "missing public key" in lowered:
        return "no key is published at the selector", False
    if "dnstimeouterror" in lowered:
        return "the key could not be fetched (DNS did not answer)", False
    if "public key too small" in lowered:
        return "the key is too short (under 1024 bits)", False
    return error, False


def verify_signatures(raw: bytes, keys: dict[str, Answer]) -> list[SignatureCheck]:
    """Verify every DKIM-Signature of ``raw`` with the keys already fetched (CPU only)."""
    lookup = _dnsfunc(keys)
    checks = []
    signer = dkim.DKIM(raw)
    signatures = [v for k, v in signer.headers if k.lower() == b"dkim-signature"]
    for index, value in enumerate(signatures):
        tags = tag_list(value.decode("utf-8", "replace"))
        logger, collect = _logger()
        verifier = dkim.DKIM(raw, logger=logger)
        try:
            ok = bool(verifier.verify(idx=index, dnsfunc=lookup))
            error = "" if ok else (collect.lines[-1] if collect.lines else "")
        except dkim.DKIMException as exc:
            ok, error = False, str(exc)
        reason, body = _plain_reason(error) if error else ("", False)
        if not ok and not error:
            reason = "the signature does not match the signed headers or the published key"
        checks.append(
            SignatureCheck(
                tags.get("d", "").lower(),
                tags.get("s", ""),
                ok,
                reason,
                body,
                "dnstimeouterror" in error.lower(),
                tuple(h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()),
            )
        )
    return checks


def verify_arc(raw: bytes, keys: dict[str, Answer]) -> ArcCheck:
    """Validate the ARC chain of ``raw`` with the keys already fetched (CPU only)."""
    logger, collect = _logger()
    try:
        cv, results, reason = dkim.ARC(raw, logger=logger).verify(dnsfunc=_dnsfunc(keys))
    except dkim.DKIMException as exc:
        return ArcCheck("fail", str(exc), 0)
    result = cv.decode() if isinstance(cv, bytes) else "fail"
    if result == "fail" and collect.lines and "did not validate" in reason:
        reason = f"{reason} ({_plain_reason(collect.lines[-1])[0]})"
    return ArcCheck(result, "" if result == "pass" else str(reason), len(results))


async def verify_now(
    message: ParsedMessage, client: DnsClient
) -> tuple[list[SignatureCheck], ArcCheck | None, dict[str, Answer]]:
    """DKIM and ARC of a whole message verified now; the key answers are returned as evidence."""
    keys = await fetch_keys(client, key_names(message))
    checks = await asyncio.to_thread(verify_signatures, message.raw, keys)
    arc = None
    if message.first("ARC-Seal") is not None:
        arc = await asyncio.to_thread(verify_arc, message.raw, keys)
    return checks, arc, keys
