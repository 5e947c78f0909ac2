"""DKIM: is the public key published at the selector, in one piece, and is it ours?"""

from __future__ import annotations

import asyncio
import base64
import binascii

from postdesk.core.dnscheck.messages import problem
from postdesk.core.dnscheck.outcome import new_result, the_one_record
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.records import ExpectedRecord, Problem, RecordResult

WEAK_KEY_BITS = 2048


def dkim_tags(value: str) -> dict[str, str]:
    """The tags of a DKIM record (``v=DKIM1; k=rsa; p=...``), names lowercased, last one wins."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, tag_value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = tag_value.strip()
    return tags


def is_dkim(value: str) -> bool:
    """Whether a TXT value looks like a DKIM key record."""
    return value.lstrip().lower().startswith("v=dkim1") or "p" in dkim_tags(value)


def key_material(value: str) -> str:
    """The ``p=`` key of a DKIM record with all whitespace removed (what actually matters)."""
    return "".join(dkim_tags(value).get("p", "").split())


def rsa_key_bits(p: str) -> int | None:
    """The size of the RSA key in a ``p=`` value, or ``None`` when it is not a readable key."""
    # Imported here: a check without DKIM keys to read does not load the cryptography library.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        der = base64.b64decode(p, validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError):
        return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


async def check_dkim(
    client: DnsClient, host: str, *, domain: str, expected: ExpectedRecord | None = None
) -> RecordResult:
    """Check the DKIM record at ``host`` (``<selector>._domainkey.<domain>``) against ours."""
    result = new_result("dkim", "TXT", host, expected)
    # Asked together: a DNS panel that appends the zone name puts the record one level deeper.
    appended = f"{host}.{domain}"
    answer, deeper = await asyncio.gather(client.query(host, "TXT"), client.query(appended, "TXT"))
    if any(is_dkim(v) for v in deeper.values):
        short = host.removesuffix(f".{domain}")
        missing = problem("dkim.zone_appended", host=host, found_at=appended, short=short)
    else:
        missing = problem("dkim.missing", host=host)
    record = the_one_record(
        result, answer, is_dkim, missing=missing, multiple="dkim.multiple", host=host
    )
    if record is None:
        return result
    result.problems = record_problems(host, record, expected.value if expected else None)
    if any(p.severity == "error" for p in result.problems):
        result.status = "mismatch"
    return result


def record_problems(host: str, value: str, expected: str | None) -> list[Problem]:
    """What is wrong with one published DKIM record, compared with ours when given."""
    tags = dkim_tags(value)
    raw_p = tags.get("p", "")
    published = "".join(raw_p.split())
    problems: list[Problem] = []
    if "p" in tags and not published:
        return [problem("dkim.revoked", host=host)]
    if '"' in value or "\\" in value:
        problems.append(
            problem("dkim.malformed", host=host, detail="it contains quote marks or backslashes")
        )
    elif published != raw_p:
        problems.append(problem("dkim.malformed_spaces", host=host))
    # Judge the key itself even when quote marks were pasted into it: they are reported above.
    cleaned = published.replace('"', "").replace("\\", "")
    ours = key_material(expected) if expected else None
    bits = rsa_key_bits(cleaned)
    if ours and cleaned != ours:
        problems.append(_difference(host, cleaned, ours, bits))
    elif bits is None:
        problems.append(
            problem("dkim.malformed", host=host, detail="the key after p= is not a public key")
        )
    if bits is not None and bits < WEAK_KEY_BITS:
        problems.append(problem("dkim.weak_key", host=host, bits=bits))
    if "y" in (flag.strip().lower() for flag in tags.get("t", "").split(":")):
        problems.append(problem("dkim.testing", host=host))
    return problems


def _difference(host: str, cleaned: str, ours: str, bits: int | None) -> Problem:
    """Say how a published key differs from ours, in the terms a user can check."""
    if ours.startswith(cleaned):
        detail = (
            f"the key is cut off after {len(cleaned)} of {len(ours)} characters; your DNS host "
            "may limit the length of a value, or part of it was not copied"
        )
        return problem("dkim.malformed", host=host, detail=detail)
    our_bits = rsa_key_bits(ours)
    if bits is None:
        return problem(
            "dkim.malformed", host=host, detail="the key after p= is not a valid public key"
        )
    if our_bits and bits != our_bits:
        detail = f"it is a {bits}-bit key, and Postdesk's key is {our_bits}-bit"
    else:
        position = next(
            (i for i, (a, b) in enumerate(zip(cleaned, ours, strict=False)) if a != b),
            min(len(cleaned), len(ours)),
        )
        detail = f"the two keys first differ at character {position + 1} of the key"
    return problem("dkim.mismatch", host=host, detail=detail)
