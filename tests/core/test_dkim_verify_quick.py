"""DKIM verification: a passing rsa-sha256 signature is verified without dkimpy's own RSA, and
every verdict (pass or fail, and why) is the one dkimpy alone gives."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import parse_pem_private_key

from postdesk.core.analyze import verify
from postdesk.core.analyze.verify import SignatureCheck, verify_signatures
from postdesk.core.dnscheck.resolver import Answer

MESSAGE = (
    b"From: Ana <ana@sender.test>\r\n"
    b"To: hello@shop.test\r\n"
    b"Subject: Where is my order?\r\n"
    b"Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <order-1@sender.test>\r\n"
    b"\r\n"
    b"Hello,\r\n\r\nmy order   has not arrived.  \r\n\r\n\r\n"
)
HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def key(bits: int = 2048) -> tuple[bytes, str]:
    """(private PEM, the key record) of a fresh RSA key, one per size."""
    return _key(bits)


@cache
def _key(bits: int) -> tuple[bytes, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def keys(record: str | None, selector: str = "s1") -> dict[str, Answer]:
    name = f"{selector}._domainkey.sender.test"
    if record is None:
        return {name: Answer(name, "TXT", "nxdomain")}
    return {name: Answer(name, "TXT", "ok", (record,), 300)}


def sign(message: bytes, *, selector: str = "s1", **options: object) -> bytes:
    pem, _ = key()
    options.setdefault("include_headers", HEADERS)
    header = dkim.sign(message, selector.encode(), b"sender.test", pem, **options)  # type: ignore[arg-type]
    return header + message


def dkimpy_alone(
    raw: bytes, found: dict[str, Answer], monkeypatch: pytest.MonkeyPatch
) -> list[SignatureCheck]:
    with monkeypatch.context() as patch:
        patch.setattr(verify, "_quick_pass", lambda *args: False)
        return verify_signatures(raw, found)


@pytest.mark.parametrize(
    "canonicalize",
    [
        (b"relaxed", b"relaxed"),
        (b"simple", b"simple"),
        (b"relaxed", b"simple"),
        (b"simple", b"relaxed"),
    ],
)
def test_a_good_signature_passes_without_dkimpy_verifying_it(
    canonicalize: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = sign(MESSAGE, canonicalize=canonicalize)
    found = keys(key()[1])
    assert dkimpy_alone(raw, found, monkeypatch)[0].ok

    def no_dkimpy(*args: object, **kwargs: object) -> None:
        raise AssertionError("dkimpy verified a signature the quick path should have")

    monkeypatch.setattr(verify.dkim, "DKIM", no_dkimpy)
    (check,) = verify_signatures(raw, found)
    assert check == SignatureCheck(
        "sender.test", "s1", True, "", False, False, ("from", "to", "subject", "date", "message-id")
    )


def _changed_body(raw: bytes) -> bytes:
    return raw.replace(b"has not arrived", b"HAS arrived")


def _changed_subject(raw: bytes) -> bytes:
    return raw.replace(b"Subject: Where is my order?", b"Subject: Refund now")


def _second_from(raw: bytes) -> bytes:
    return raw.replace(b"To: ", b"From: mallory@evil.test\r\nTo: ", 1)


def _footer(raw: bytes) -> bytes:
    return raw + b"--\r\nsent through a list\r\n"


def _folded_differently(raw: bytes) -> bytes:
    return raw.replace(b"Subject: Where is my order?", b"Subject:   Where is\r\n\tmy   order?")


def signed_until(message: bytes, expires: int) -> bytes:
    """Signed now (t=) with an expiry (x=), which dkimpy's ``sign`` cannot write."""
    signer = dkim.DKIM(message)
    signer.hasher = hashlib.sha256
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    body = hashlib.sha256(policy.canonicalize_body(signer.body)).digest()
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", b"sender.test"),
        (b"s", b"s1"),
        (b"t", str(min(expires - 60, int(time.time()))).encode()),
        (b"x", str(expires).encode()),
        (b"h", b":".join(HEADERS)),
        (b"bh", base64.b64encode(body)),
        (b"b", b""),
    ]
    private = parse_pem_private_key(key()[0])
    value = signer.gen_header(fields, HEADERS, policy, b"DKIM-Signature", private)
    return b"DKIM-Signature: " + value + message


def test_a_signature_with_an_expiry_still_ahead_passes_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = signed_until(MESSAGE, int(time.time()) + 86400)
    monkeypatch.setattr(verify.dkim, "DKIM", None)  # dkimpy's verifier is not reached
    assert verify_signatures(raw, keys(key()[1]))[0].ok


def _revoked(record: str) -> str:
    return record.partition("p=")[0] + "p="


def _for_tls_reports_only(record: str) -> str:
    return record.replace("k=rsa;", "k=rsa; s=tlsrpt;")


# case: (signing options, what happens to the message on its way, what becomes of the key
# record (None: none is published), whether dkimpy says it verifies)
CASES: dict[str, tuple[dict[str, Any], Callable[[bytes], bytes] | None, Any, bool]] = {
    "body changed (relaxed)": ({}, _changed_body, str, False),
    "body changed (simple)": ({"canonicalize": (b"simple", b"simple")}, _changed_body, str, False),
    "subject changed": ({}, _changed_subject, str, False),
    "a second From added": ({}, _second_from, str, False),
    "footer under l=": ({"length": True}, _footer, str, True),
    "footer without l=": ({}, _footer, str, False),
    "refolded, relaxed": (
        {"canonicalize": (b"relaxed", b"relaxed")},
        _folded_differently,
        str,
        True,
    ),
    "refolded, simple": ({"canonicalize": (b"simple", b"simple")}, _folded_differently, str, False),
    "rsa-sha1": ({"signature_algorithm": b"rsa-sha1"}, None, str, True),
    "no key published": ({}, None, None, False),
    "key revoked": ({}, None, _revoked, False),
    "key for TLS reports only": ({}, None, _for_tls_reports_only, False),
    "expired a day ago": ({"expired": True}, None, str, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_other_verdict_is_dkimpys_own(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    options, change, record, verifies = CASES[case]
    options = dict(options)
    if options.pop("expired", False):
        raw = signed_until(MESSAGE, int(time.time()) - 86400)
    else:
        raw = sign(MESSAGE, **options)
    if change is not None:
        raw = change(raw)
    found = keys(None if record is None else record(key()[1]))
    expected = dkimpy_alone(raw, found, monkeypatch)
    assert expected[0].ok is verifies
    assert verify_signatures(raw, found) == expected


def test_two_signatures_each_get_their_own_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    other_pem, other_record = key(1024)
    inner = sign(MESSAGE)
    outer = dkim.sign(inner, b"s2", b"sender.test", other_pem, include_headers=HEADERS) + inner
    found = {**keys(key()[1]), **keys(other_record.replace("p=", "p=AAAA"), selector="s2")}
    checks = verify_signatures(outer, found)
    assert [c.ok for c in checks] == [False, True]
    assert checks == dkimpy_alone(outer, found, monkeypatch)


@pytest.mark.parametrize(
    "value",
    [
        b" v=1; a=rsa-sha256; d=sender.test; s=s1; bh=AbC=; h=from:to; b=AbCd\r\n eFgH+/==\r\n",
        b" v=1; b=AbCd\r\n\teFgH==; a=rsa-sha256; d=sender.test\r\n",
        b" v=1; b = AbCd eFgH== ; a=rsa-sha256\r\n",
        b" v=1;b=AbCd;bh=XyZ=\r\n",
        b" v=1; bh=XyZ=; b=\r\n",
    ],
)
def test_the_b_value_is_taken_out_as_dkimpy_does(value: bytes) -> None:
    # The signature's own field is hashed without its line ending, so only that may differ.
    assert verify._without_b(value).rstrip() == dkim.RE_BTAG.sub(b"\\1", value).rstrip()
