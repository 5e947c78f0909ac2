"""BIMI: the ``default._bimi`` record, DMARC strict enough for a logo, and the SVG Tiny PS logo."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from postdesk.core.dnscheck.dmarc import dmarc_errors, dmarc_tags, is_dmarc
from postdesk.core.dnscheck.messages_newer import newer_problem, valid_newer_record
from postdesk.core.dnscheck.options import HttpsOptions
from postdesk.core.dnscheck.outcome import new_result
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.dnscheck.tags import tag_list
from postdesk.core.records import RecordResult

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

SVG_MAX_BYTES = 32 * 1024
_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_ANIMATION = {"animate", "animateMotion", "animateColor", "animateTransform", "set"}
_FORBIDDEN = {"script": "a <script>", "image": "a raster <image>", "foreignObject": "HTML content"}
_ENFORCED = ("quarantine", "reject")
_URL_IN_STYLE = r"url\(\s*['\"]?(?!#)"  # compiled (and cached by re) for a logo only


def svg_problems(data: bytes) -> list[str]:
    """Every way ``data`` breaks the SVG Tiny Portable/Secure profile BIMI asks for (empty: ok).

    Parsed with defusedxml: entity declarations (billion laughs) and external DTDs are refused.
    """
    # Imported here: only a domain with a BIMI logo to read needs an XML parser.
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    problems = []
    if len(data) > SVG_MAX_BYTES:
        size = f"{len(data):,} bytes"
        problems.append(f"it is {size}, more than the 32 KB ({SVG_MAX_BYTES:,}) allowed")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        return [*problems, "it declares a DTD or entities, which SVG Tiny PS does not allow"]
    except ParseError as err:
        return [*problems, f"it is not well-formed XML ({err})"]
    if root.tag != f"{_SVG}svg":
        return [*problems, "its root element is not an SVG <svg> element"]
    if root.get("baseProfile") != "tiny-ps":
        problems.append(f'baseProfile is {root.get("baseProfile")!r}, not "tiny-ps"')
    if root.get("version") != "1.2":
        problems.append(f'version is {root.get("version")!r}, not "1.2"')
    if root.find(f"{_SVG}title") is None or not (root.findtext(f"{_SVG}title") or "").strip():
        problems.append("it has no <title> naming the brand")
    for attribute in ("x", "y"):
        if root.get(attribute) is not None:
            problems.append(f"the <svg> element has {attribute}=, which is not allowed")
    problems += _viewbox_problems(root)
    problems += _content_problems(root)
    return problems


def _viewbox_problems(root: Element) -> list[str]:
    box = (root.get("viewBox") or "").replace(",", " ").split()
    try:
        width, height = float(box[2]), float(box[3])
    except (IndexError, ValueError):
        return ["it has no viewBox (four numbers) to scale it by"]
    if width != height:
        return [f"it is not square (viewBox {width:g} × {height:g})"]
    return []


def _content_problems(root: Element) -> list[str]:
    found: dict[str, None] = {}  # ordered and without repeats
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in _FORBIDDEN:
            found[f"it contains {_FORBIDDEN[name]}"] = None
        if name in _ANIMATION:
            found["it contains animation"] = None
        href = element.get(_XLINK_HREF) or element.get("href")
        if href is not None and not href.startswith("#"):
            found[f"it links outside the file ({href[:60]})"] = None
        if re.search(_URL_IN_STYLE, element.get("style") or "", re.I) or (
            name == "style" and re.search(_URL_IN_STYLE, element.text or "", re.I)
        ):
            found["its styles load something from outside the file"] = None
        if any(a.startswith("on") for a in element.attrib):
            found["it has event handlers (on…= attributes)"] = None
    return list(found)


def is_bimi(value: str) -> bool:
    """Whether a TXT value at ``default._bimi`` is meant as a BIMI record (even a broken one)."""
    return value.strip().lower().startswith("v=bimi1")


def record_tags(value: str) -> dict[str, str]:
    """The tags of a BIMI record (names lowercased)."""
    return {name: tag_value for name, tag_value in tag_list(value, lower=True) if name}


def record_errors(value: str) -> list[str]:
    """What makes a BIMI record invalid, in plain words (empty when valid)."""
    errors = []
    if not re.match(r"^\s*v\s*=\s*BIMI1\s*(;|$)", value):
        errors.append("it must start with v=BIMI1")
    tags = record_tags(value)
    if "l" not in tags:
        errors.append("the l= tag (the logo's address) is missing")
    for name in ("l", "a"):
        uri = tags.get(name, "")
        if uri and not uri.lower().startswith("https://"):
            errors.append(f"{name}={uri} must be an https:// address")
    return errors


def dmarc_enforcement(dmarc_values: tuple[str, ...]) -> str | None:
    """Why DMARC is not strict enough for BIMI ("p=none", "sp=none", …), or None.

    The BIMI draft (§7.1) asks for p= (and sp= when present) at quarantine or reject, and
    pct=100 when the policy is quarantine; a reject policy satisfies it at any pct.
    """
    records = [v for v in dmarc_values if is_dmarc(v)]
    if len(records) != 1 or dmarc_errors(records[0]):
        return "no valid DMARC record"
    tags = dict(dmarc_tags(records[0]))
    policy = tags.get("p", "").lower()
    if policy not in _ENFORCED:
        return f"p={policy}"
    subdomains = tags.get("sp", policy).lower()
    if subdomains not in _ENFORCED:
        return f"p={policy} but sp={subdomains}"
    if policy == "quarantine" and tags.get("pct", "100") != "100":
        return f"p=quarantine with pct={tags['pct']}"
    return None


async def check_bimi(
    client: DnsClient, domain: str, *, https: HttpsOptions | None = None
) -> RecordResult:
    """Check ``domain``'s BIMI record, that DMARC allows a logo, and the logo itself.

    ``missing`` (no problem) when no record is published; the DMARC record is asked through the
    same client, so with the DMARC check in the same run it costs no second question.
    """
    host = f"default._bimi.{domain}"
    result = new_result("bimi", "TXT", host, None)
    result.required = False
    record = valid_newer_record(
        result,
        await client.query(host, "TXT"),
        is_bimi,
        record_errors,
        missing=None,
        multiple="bimi.multiple",
        invalid="bimi.record_invalid",
        domain=domain,
    )
    if record is None:
        return result
    tags = record_tags(record)
    if not tags["l"]:
        result.problems.append(newer_problem("bimi.declined", domain=domain))
        return result
    dmarc = await client.query(f"_dmarc.{domain}", "TXT")
    weak = None if dmarc.failed else dmarc_enforcement(dmarc.values)
    if weak is not None:
        result.status = "mismatch"
        result.problems.append(newer_problem("bimi.dmarc_not_enforced", domain=domain, policy=weak))
    if not tags.get("a"):
        result.problems.append(newer_problem("bimi.no_certificate", domain=domain))
    await _check_logo(client, tags["l"], https or HttpsOptions(), result)
    return result


async def _check_logo(
    client: DnsClient, url: str, https: HttpsOptions, result: RecordResult
) -> None:
    # Loaded for a logo to fetch only: most domains publish no BIMI record.
    from postdesk.core.dnscheck.httpsfetch import fetch_https

    # Fetched past the limit so that an oversized logo is reported with its size.
    fetched = await fetch_https(client, url, options=https, max_bytes=SVG_MAX_BYTES * 4)
    if not fetched.ok:
        result.status = "mismatch"
        result.problems.append(
            newer_problem("bimi.logo_unreachable", url=url, reason=fetched.reason)
        )
        return
    assert fetched.body is not None
    found = svg_problems(fetched.body)
    if found:
        result.status = "mismatch"
        result.problems.append(newer_problem("bimi.svg_invalid", url=url, detail="; ".join(found)))
