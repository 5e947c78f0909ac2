"""DMARC alignment worked out from the headers: the From domain against SPF and DKIM domains.

Relaxed alignment compares organizational domains (the public suffix list decides where a
registered domain begins); strict alignment needs the exact same name (RFC 7489 section 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from postdesk.core.analyze.authres import AuthResults, MethodResult, tag_list
from postdesk.core.analyze.parse import ParsedMessage, address_domain
from postdesk.core.dnscheck.dmarc import organizational_domain


@dataclass(frozen=True)
class Identifier:
    """A domain SPF or DKIM vouches for, the receiver's verdict on it, and how it aligns."""

    kind: Literal["spf", "dkim"]
    domain: str
    result: str  # the receiver's verdict, "" when no receiver said
    relaxed: bool
    strict: bool
    selector: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "domain": self.domain,
            "selector": self.selector,
            "result": self.result,
            "aligned_relaxed": self.relaxed,
            "aligned_strict": self.strict,
        }


@dataclass(frozen=True)
class Alignment:
    """The From domain and every identifier that could make DMARC pass."""

    from_domain: str | None
    identifiers: tuple[Identifier, ...]

    @property
    def aligned(self) -> bool:
        """Some identifier aligns (relaxed), whether or not it passed."""
        return any(i.relaxed for i in self.identifiers)

    @property
    def passing(self) -> bool:
        """Some aligned identifier also passed at the receiver: DMARC passes."""
        return any(i.relaxed and i.result == "pass" for i in self.identifiers)

    def as_dict(self) -> dict[str, object]:
        return {
            "from_domain": self.from_domain,
            "aligned": self.aligned,
            "passing": self.passing,
            "identifiers": [i.as_dict() for i in self.identifiers],
        }


@lru_cache(maxsize=4096)
def aligns(domain: str, from_domain: str) -> tuple[bool, bool]:
    """(relaxed, strict) alignment of ``domain`` with ``from_domain``."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    strict = domain == from_domain
    return strict or organizational_domain(domain) == organizational_domain(from_domain), strict


def _domain_of(value: str) -> str:
    return (address_domain(value) if "@" in value else value.strip("<> ").lower()) or ""


def final_verdict(verdicts: list[AuthResults]) -> AuthResults | None:
    """The topmost Authentication-Results: the one the last receiving server wrote."""
    return next((v for v in verdicts if v.instance is None), None)


def _dkim_result(final: AuthResults | None, domain: str, selector: str) -> str:
    if final is None:
        return ""
    candidates: list[MethodResult] = []
    for result in final.of("dkim"):
        signer = _domain_of(result.get("header.d", "header.i"))
        if signer == domain:
            candidates.append(result)
    # Two signatures by one domain: the selector tells them apart when the receiver names it.
    named = [c for c in candidates if c.get("header.s") == selector]
    chosen = named or candidates
    return chosen[0].result if chosen else ""


def work_out_alignment(message: ParsedMessage, verdicts: list[AuthResults]) -> Alignment:
    """Alignment of the SPF MAIL FROM and every DKIM d= with the From domain."""
    from_domain = address_domain(message.first("From"))
    final = final_verdict(verdicts)
    identifiers: list[Identifier] = []
    spf = final.of("spf")[0] if final and final.of("spf") else None
    mail_from = _domain_of(spf.get("smtp.mailfrom")) if spf else ""
    mail_from = mail_from or address_domain(message.first("Return-Path")) or ""
    if mail_from:
        relaxed, strict = aligns(mail_from, from_domain) if from_domain else (False, False)
        identifiers.append(Identifier("spf", mail_from, spf.result if spf else "", relaxed, strict))
    for value in message.all("DKIM-Signature"):
        tags = tag_list(value)
        domain = tags.get("d", "").lower()
        if not domain:
            continue
        selector = tags.get("s", "")
        relaxed, strict = aligns(domain, from_domain) if from_domain else (False, False)
        result = _dkim_result(final, domain, selector)
        identifiers.append(Identifier("dkim", domain, result, relaxed, strict, selector))
    return Alignment(from_domain, tuple(identifiers))
