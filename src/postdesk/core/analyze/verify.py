"""DKIM signatures and the ARC chain verified now, with dkimpy (the RSA of a passing
rsa-sha256 signature is OpenSSL's, see ``_quick_pass``).

The public keys are fetched first, all at once, through the project's resolver (so
``POSTDESK_NAMESERVERS`` applies and nothing blocks the event loop); dkimpy then runs in a worker
thread and reads them from memory. "Now" can differ from what the receiver saw: a key rotated
since, or a message re-encoded after delivery, fails today although it passed then.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import dkim
import dkim.util
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy

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
    """Verify every DKIM-Signature of ``raw`` with the keys already fetched (CPU only).

    A signature that verifies on the quick path (:func:`_quick_pass`) is not looked at again;
    any other goes through dkimpy, which says why it failed."""
    lookup = _dnsfunc(keys)
    checks = []
    headers, body = dkim.rfc822_parse(raw)  # raises what dkim.DKIM(raw) raises
    message = _Message(headers, body)
    signatures = [(k, v) for k, v in headers if k.lower() == b"dkim-signature"]
    for index, (name, value) in enumerate(signatures):
        tags = tag_list(value.decode("utf-8", "replace"))
        if _quick_pass(message, (name, value), lookup):
            ok, error = True, ""
        else:
            logger, collect = _logger()
            verifier = dkim.DKIM(raw, logger=logger)
            try:
                ok = bool(verifier.verify(idx=index, dnsfunc=lookup))
                error = "" if ok else (collect.lines[-1] if collect.lines else "")
            except dkim.DKIMException as exc:
                ok, error = False, str(exc)
        reason, body_changed = _plain_reason(error) if error else ("", False)
        if not ok and not error:
            reason = "the signature does not match the signed headers or the published key"
        checks.append(
            SignatureCheck(
                tags.get("d", "").lower(),
                tags.get("s", ""),
                ok,
                reason,
                body_changed,
                "dnstimeouterror" in error.lower(),
                tuple(h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()),
            )
        )
    return checks


class _Message:
    """A message's header fields and body as dkimpy parses them, with the body hash of each
    canonicalization worked out once for all its signatures."""

    def __init__(self, headers: list[list[bytes]], body: bytes) -> None:
        self.headers = headers
        self.body = body
        self._bodies: dict[tuple[object, bytes], bytes] = {}

    def body_hash(self, policy: CanonicalizationPolicy, length: bytes | None) -> bytes:
        key = (policy.body_algorithm, length or b"")
        if key not in self._bodies:
            body = policy.canonicalize_body(self.body)
            if length is not None:
                body = body[: int(length)]
            self._bodies[key] = hashlib.sha256(body).digest()
        return self._bodies[key]


_B_TAG = re.compile(rb"[;\s]b\s*=")
_B_VALUE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n")


def _without_b(value: bytes) -> bytes | None:
    """The signature field's value with the b= tag's value taken out, as dkimpy's ``RE_BTAG``
    does (its whitespace-heavy pattern took a tenth of a millisecond on a 2048-bit signature);
    None when the value is not plain base64 and whitespace (dkimpy then decides)."""
    found = _B_TAG.search(value)
    if found is None:
        return None
    end = value.find(b";", found.end())
    end = len(value) if end < 0 else end
    tag_value = value[found.end() : end]
    if not _B_VALUE.issuperset(tag_value):
        return None
    trailing = tag_value[len(tag_value.rstrip(b" \t\r\n")) :]
    if end == len(value):
        trailing = b""  # the end of the field: dkimpy's pattern takes the line ending too
    return value[: found.end()] + trailing + value[end:]


_PKCS1 = padding.PKCS1v15()
_PREHASHED = Prehashed(hashes.SHA256())


@functools.lru_cache(maxsize=256)
def _rsa_key(record: bytes) -> rsa.RSAPublicKey | None:
    """The RSA key of a DKIM key record as dkimpy reads it, for OpenSSL; None for any record
    the quick path leaves to dkimpy (not RSA, under 1024 bits, a service type other than
    email, or unreadable)."""
    try:
        pk, size, ktag, tlsrpt = dkim.evaluate_pk("", record)
        if ktag != b"rsa" or tlsrpt or size < 1024:
            return None
        return rsa.RSAPublicNumbers(pk["publicExponent"], pk["modulus"]).public_key()
    except Exception:  # whatever it is, dkimpy will say it
        return None


def _quick_pass(
    message: _Message, header: tuple[bytes, bytes], lookup: Callable[[bytes], bytes | None]
) -> bool:
    """Whether an rsa-sha256 signature verifies, worked out with dkimpy's own parsing,
    checks and canonicalization but OpenSSL's RSA (dkimpy's pure-Python RSA and the parsing of
    the message and the key for every signature took most of the time of a check).

    False means "not known here", never "failed": dkimpy then verifies the signature itself,
    so every failure and its reason are dkimpy's."""
    try:
        sig = dkim.util.parse_tag_value(header[1])
        dkim.validate_signature_fields(sig)
        if sig[b"a"] != b"rsa-sha256" or b"bh" not in sig:
            return False
        # The key record as dkimpy would ask for it (a failed lookup raises: dkimpy says why).
        record = lookup(sig[b"s"] + b"._domainkey." + sig[b"d"] + b".")
        if record is None:
            return False
        public_key = _rsa_key(record)
        if public_key is None:
            return False
        policy = CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
        expected = base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
        if message.body_hash(policy, sig.get(b"l")) != expected:
            return False
        include = [x.lower() for x in re.split(rb"\s*:\s*", sig[b"h"])]
        if b"from" in include:
            include.append(b"from")  # as dkimpy: a second From is hashed too
        unsigned = _without_b(header[1])
        if unsigned is None:
            return False
        hasher = hashlib.sha256()
        # The fields named in h=, as dkimpy picks them (field names never end in spaces, so
        # picking before canonicalizing picks the same ones), then the signature itself.
        signed = dkim.select_headers(message.headers, include)
        for name, value in policy.canonicalize_headers(signed):
            hasher.update(name + b":" + value)
        ((name, value),) = policy.canonicalize_headers([(header[0], unsigned)])
        hasher.update(name + b":" + value.rstrip())  # no line ending, as dkimpy
        signature = base64.b64decode(re.sub(rb"\s+", b"", sig[b"b"]))
        public_key.verify(signature, hasher.digest(), _PKCS1, _PREHASHED)
    except Exception:  # a bad signature, tag or key: dkimpy says which
        return False
    return True


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
