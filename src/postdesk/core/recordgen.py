"""The DNS records a user publishes for a sending domain, and two ways to show them.

Records come out in the order a user works through them: ownership, SPF, DKIM, DMARC, then the
optional bounce, tracking and MX records.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from postdesk.core.domainname import canonical, display_domain
from postdesk.core.records import ExpectedRecord

OWNERSHIP_LABEL = "_postdesk"
OWNERSHIP_PREFIX = "postdesk-verification="
RETURN_PATH_LABEL = "bounce"
TRACKING_LABEL = "track"
MX_PREFERENCE = 10
DEFAULT_DMARC_MAILBOX = "dmarc-reports"
TXT_CHUNK_BYTES = 255
_SPF_VERSION = "v=spf1"
_ALL_QUALIFIERS = "+-~?"
_SPF_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")


def new_ownership_token() -> str:
    """A random token that proves the user controls the domain's DNS."""
    return secrets.token_hex(16)


def build_expected_records(
    domain: str,
    *,
    ownership_token: str,
    spf_include: str | None,
    spf_extra: Sequence[str] = (),
    dkim_selector: str,
    dkim_public_b64: str,
    existing_spf: str | None = None,
    existing_dmarc: str | None = None,
    dmarc_rua: str | None = None,
    return_path_target: str | None = None,
    tracking_target: str | None = None,
    mx_target: str | None = None,
) -> list[ExpectedRecord]:
    """Every record to publish for ``domain`` (A-label form), merged with what is already there.

    No SPF record is proposed when there is nothing to authorise (no include, no extra terms)
    and the domain has no SPF record yet: a record that allows nobody would only block mail.
    """
    # Here, not at the top: checks read SPF records through this module and need no DKIM keys.
    from postdesk.core.dkimkeys import dkim_txt_value

    domain = canonical(domain)
    records = [
        ExpectedRecord(
            "ownership", "TXT", f"{OWNERSHIP_LABEL}.{domain}", OWNERSHIP_PREFIX + ownership_token
        )
    ]
    spf_terms = ([f"include:{canonical(spf_include)}"] if spf_include else []) + list(spf_extra)
    spf = _spf_value(existing_spf, spf_terms)
    if spf is not None:
        records.append(ExpectedRecord("spf", "TXT", domain, spf))
    records.append(
        ExpectedRecord(
            "dkim",
            "TXT",
            f"{dkim_selector.lower()}._domainkey.{domain}",
            dkim_txt_value(dkim_public_b64),
        )
    )
    records.append(
        ExpectedRecord(
            "dmarc", "TXT", f"_dmarc.{domain}", _dmarc_value(domain, existing_dmarc, dmarc_rua)
        )
    )
    if return_path_target:
        records.append(
            ExpectedRecord(
                "return_path",
                "CNAME",
                f"{RETURN_PATH_LABEL}.{domain}",
                canonical(return_path_target),
                required=False,
            )
        )
    if tracking_target:
        records.append(
            ExpectedRecord(
                "tracking",
                "CNAME",
                f"{TRACKING_LABEL}.{domain}",
                canonical(tracking_target),
                required=False,
            )
        )
    if mx_target:
        records.append(mx_record(domain, mx_target, required=False))
    return records


def mx_record(domain: str, target: str, *, required: bool) -> ExpectedRecord:
    """The MX record that brings the domain's mail to the relay; required while the domain
    receives mail into Conversations, optional otherwise."""
    return ExpectedRecord(
        "mx", "MX", canonical(domain), f"{MX_PREFERENCE} {canonical(target)}", required=required
    )


# --- SPF --------------------------------------------------------------------------------------


def is_spf(value: str) -> bool:
    """Whether a TXT value is an SPF record (starts with ``v=spf1``)."""
    terms = value.split()
    return bool(terms) and terms[0].lower() == _SPF_VERSION


def _spf_value(existing: str | None, terms: Sequence[str]) -> str | None:
    if existing is not None and is_spf(existing):
        return merge_spf(existing, terms)
    if not terms:
        return None
    return merge_spf(_SPF_VERSION, terms)


def _term_key(term: str) -> str:
    """What a term means, for spotting duplicates: no default qualifier, no case, no final dot."""
    key = term.lower()
    if key[:1] in _ALL_QUALIFIERS:
        key = key[1:]
    return key.rstrip(".")


def _is_mechanism(term: str) -> bool:
    name = term.lstrip(_ALL_QUALIFIERS).lower()
    return name.split(":", 1)[0].split("/", 1)[0] in _SPF_MECHANISMS and "=" not in name


def _as_term(item: str) -> str:
    """A bare domain means ``include:<domain>``; anything else is already a term."""
    item = item.strip()
    if ":" in item or "=" in item or _is_mechanism(item):
        return item
    return f"include:{canonical(item)}"


def merge_spf(existing: str, includes: Sequence[str]) -> str:
    """One SPF record: ``existing`` with ``includes`` added before its ``all`` (or modifiers).

    Existing mechanisms and modifiers keep their order; terms already there are not added again;
    a ``+all`` or ``?all`` (which let anyone send) becomes ``~all``; ``-all`` and ``~all`` stay.
    A ``redirect=`` is kept and new terms go before it. With neither ``all`` nor ``redirect=``,
    ``~all`` is added at the end of the mechanisms.
    """
    old = existing.split()[1:]
    kept: list[str] = []
    seen: set[str] = set()
    for term in old:
        key = _term_key(term)
        if key in seen:
            continue  # an identical later term can never change the result
        seen.add(key)
        qualifier = term[0] if term[0] in _ALL_QUALIFIERS else "+"
        if key == "all" and qualifier in "+?":
            term = "~all"  # "+all" lets the whole internet send as you; "?all" says nothing
        kept.append(term)
    added = []
    for item in includes:
        term = _as_term(item)
        if term and _term_key(term) not in seen:
            seen.add(_term_key(term))
            added.append(term)
    all_at = next((i for i, t in enumerate(kept) if _term_key(t) == "all"), None)
    first_modifier = next((i for i, t in enumerate(kept) if not _is_mechanism(t)), len(kept))
    position = all_at if all_at is not None else first_modifier
    merged = kept[:position] + added + kept[position:]
    has_redirect = any(_term_key(t).startswith("redirect=") for t in kept)
    if all_at is None and not has_redirect:
        merged.insert(position + len(added), "~all")
    return " ".join([_SPF_VERSION, *merged])


# --- DMARC ------------------------------------------------------------------------------------


def _dmarc_tags(value: str) -> list[tuple[str, str]]:
    tags = []
    for part in value.split(";"):
        if "=" in part:
            name, _, tag_value = part.partition("=")
            tags.append((name.strip().lower(), tag_value.strip()))
    return tags


def is_valid_dmarc(value: str) -> bool:
    """A minimal check: starts with ``v=DMARC1`` and has ``p=none|quarantine|reject``."""
    tags = _dmarc_tags(value)
    if not tags or tags[0] != ("v", "DMARC1"):
        return False
    return any(name == "p" and v.lower() in ("none", "quarantine", "reject") for name, v in tags)


def _dmarc_value(domain: str, existing: str | None, rua: str | None) -> str:
    if existing is not None and is_valid_dmarc(existing):
        return existing.strip()  # the owner's policy is theirs to tighten; never weaken it
    mailbox = (rua or f"{DEFAULT_DMARC_MAILBOX}@{domain}").strip()
    if not mailbox.lower().startswith("mailto:"):
        mailbox = f"mailto:{mailbox}"
    return f"v=DMARC1; p=none; rua={mailbox}"


def dmarc_reporting_to(value: str, mailbox: str) -> str:
    """``value`` (a DMARC record) with ``mailbox`` among its aggregate-report (``rua``) addresses.

    Used when the domain's own mail is received: the reports then come back to Postdesk. Every
    other tag, and every address already listed, is kept as it is.
    """
    address = f"mailto:{mailbox}"
    tags = [part.strip() for part in value.strip().rstrip(";").split(";") if part.strip()]
    for index, tag in enumerate(tags):
        name, _, listed = tag.partition("=")
        if name.strip().lower() == "rua":
            addresses = [a.strip() for a in listed.split(",") if a.strip()]
            if any(a.lower().split("!", 1)[0] == address.lower() for a in addresses):
                return value.strip()
            tags[index] = f"rua={','.join([*addresses, address])}"
            return "; ".join(tags)
    return "; ".join([*tags, f"rua={address}"])


def dmarc_report_mailbox(domain: str) -> str:
    """The address on the domain that DMARC aggregate reports are sent to."""
    return f"{DEFAULT_DMARC_MAILBOX}@{canonical(domain)}"


# --- showing records --------------------------------------------------------------------------


def _txt_strings(value: str) -> list[bytes]:
    """Split a TXT value into strings of at most 255 bytes, never inside a character."""
    chunks: list[bytes] = []
    current = b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > TXT_CHUNK_BYTES:
            chunks.append(current)
            current = b""
        current += encoded
    chunks.append(current)
    return chunks


def _quoted(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):  # " and \ are escaped with a backslash
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:  # anything else as \DDD so the file stays plain ASCII
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _zone_data(record: ExpectedRecord) -> str:
    if record.type == "TXT":
        return " ".join(_quoted(chunk) for chunk in _txt_strings(record.value))
    if record.type == "MX":
        preference, exchange = record.value.split(None, 1)
        return f"{preference} {exchange.rstrip('.')}."
    return f"{record.value.rstrip('.')}."


def _common_domain(records: Sequence[ExpectedRecord]) -> str:
    """The longest name every record host ends with: the domain the records belong to."""
    label_lists = [r.host.split(".")[::-1] for r in records]
    common: list[str] = []
    for labels in zip(*label_lists, strict=False):
        if len(set(labels)) != 1:
            break
        common.append(labels[0])
    return ".".join(reversed(common))


def zone_snippet(records: Sequence[ExpectedRecord], ttl: int = 3600) -> str:
    """The records as BIND zone-file lines, ready to paste into a zone or import."""
    domain = _common_domain(records) if records else ""
    shown = display_domain(domain)
    name = domain if shown == domain else f"{domain} ({shown})"
    lines = [f"; DNS records for {name}, from Postdesk"]
    for record in records:
        line = f"{record.host}.\t{ttl}\tIN\t{record.type}\t{_zone_data(record)}"
        if not record.required:
            line += "\t; optional"
        lines.append(line)
    return "\n".join(lines) + "\n"


def records_table(records: Sequence[ExpectedRecord]) -> str:
    """The records as a plain-text table; the value comes last so it can be copied whole."""
    header = ("TYPE", "HOST", "REQUIRED", "VALUE")
    rows = [header] + [
        (r.type, r.host, "yes" if r.required else "optional", r.value) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return (
        "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in rows
        )
        + "\n"
    )
