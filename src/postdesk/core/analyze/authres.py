"""The receivers' own verdicts: ``Authentication-Results`` and ``ARC-*`` headers (RFC 8601, 8617).

Parsing is tolerant on purpose: real servers put comments without spaces (``dmarc=pass(p=REJECT)``),
add vendor methods (``compauth``) and leave out the version. Whatever cannot be read is kept as
raw text rather than dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from postdesk.core.analyze.parse import ParsedMessage

_METHOD = re.compile(r"^([a-z0-9_-]+)(?:/\d+)?=([a-z0-9_-]+)$", re.IGNORECASE)
UNNAMED = "receiving server (not named)"
_SPECIAL = re.compile(r'[;()"]')
_PARENS = re.compile(r'[()"]')
_TAG = re.compile(r"^\s*([a-z0-9_]+)\s*=\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` with its reason and properties (``smtp.mailfrom``, ``header.d``…)."""

    method: str
    result: str
    reason: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    def get(self, *names: str) -> str:
        """The first of the properties ``names`` that is present, else ``""``."""
        return next((self.properties[n] for n in names if self.properties.get(n)), "")

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "result": self.result,
            "reason": self.reason,
            "properties": dict(self.properties),
        }


@dataclass(frozen=True)
class AuthResults:
    """One Authentication-Results (or ARC-Authentication-Results) header, parsed."""

    authserv_id: str
    header: str
    results: tuple[MethodResult, ...]
    raw: str
    instance: int | None = None  # the ARC instance (i=) for ARC-Authentication-Results

    def of(self, method: str) -> list[MethodResult]:
        """Results of ``method`` (``spf``, ``dkim``, ``dmarc``, ``arc``…)."""
        return [r for r in self.results if r.method == method]

    def as_dict(self) -> dict[str, object]:
        return {
            "authserv_id": self.authserv_id,
            "header": self.header,
            "instance": self.instance,
            "results": [r.as_dict() for r in self.results],
            "raw": self.raw,
        }


@dataclass(frozen=True)
class ArcSet:
    """The tags of one ARC-Seal (``i``, ``cv``, ``d``, ``s``) as written by the sealer."""

    instance: int
    cv: str
    domain: str
    selector: str

    def as_dict(self) -> dict[str, object]:
        return {"instance": self.instance, "cv": self.cv, "d": self.domain, "s": self.selector}


def split_outside(text: str, separator: str) -> list[str]:
    """Split at ``separator`` except inside quotes or (comments)."""
    if "(" not in text and '"' not in text:
        return text.split(separator)
    parts: list[str] = []
    begin, depth, quoted = 0, 0, False
    for match in _SPECIAL.finditer(text):
        char = match.group()
        if char == '"' and depth == 0:
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[begin : match.start()])
            begin = match.end()
    parts.append(text[begin:])
    return parts


def _strip_comments(text: str) -> tuple[str, list[str]]:
    """The text with top-level (comments) replaced by spaces, and the comments."""
    if "(" not in text:
        return text, []
    out: list[str] = []
    comments: list[str] = []
    begin, opened, depth, quoted = 0, 0, 0, False
    for match in _PARENS.finditer(text):
        char = match.group()
        if char == '"' and depth == 0:
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            if depth == 0:
                out.append(text[begin : match.start()])
                opened = match.end()
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                comments.append(text[opened : match.start()].strip())
                out.append(" ")
                begin = match.end()
    if depth:  # an unclosed comment runs to the end, as RFC 5322 readers treat it
        comments.append(text[opened:].strip())
    else:
        out.append(text[begin:])
    return "".join(out), comments


def _tokens(text: str) -> list[str]:
    # key="quoted value with spaces" stays one token; spaces around '=' are tolerated.
    text = re.sub(r"\s*=\s*", "=", text)
    return [t.replace('"', "") for t in re.findall(r'(?:[^\s"]+|"[^"]*")+', text)]


def _method(part: str) -> MethodResult | None:
    text, comments = _strip_comments(part)
    tokens = _tokens(text)
    if not tokens:
        return None
    match = _METHOD.match(tokens[0])
    if not match:
        return None
    reason, properties = "", {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq:
            continue
        if key.lower() == "reason":
            reason = value
        else:
            properties[key.lower()] = value
    return MethodResult(
        match.group(1).lower(), match.group(2).lower(), reason or "; ".join(comments), properties
    )


def parse_auth_results(value: str, header: str = "Authentication-Results") -> AuthResults:
    """Parse one Authentication-Results value (for ARC-A-R the leading ``i=N;`` is read too)."""
    parts = split_outside(value, ";")
    instance = None
    if header.lower().startswith("arc-"):
        tag = _TAG.match(parts[0])
        if tag and tag.group(1).lower() == "i" and tag.group(2).isdigit():
            instance = int(tag.group(2))
            parts = parts[1:] or [""]
    head, _ = _strip_comments(parts[0])
    words = head.split()
    if words and _METHOD.match(words[0]):
        # Exchange Online writes no authserv-id: the header starts with the first result.
        parts = [UNNAMED, *parts]
        words = [UNNAMED]
    authserv_id = words[0].lower() if words else UNNAMED
    results = tuple(r for r in (_method(p) for p in parts[1:]) if r is not None)
    # Some servers put the first result right after the authserv-id without a ';'.
    if len(words) > 1 and _METHOD.match(words[1]):
        first = _method(" ".join(words[1:]))
        if first is not None:
            results = (first, *results)
    return AuthResults(authserv_id, header, results, value, instance)


def tag_list(value: str) -> dict[str, str]:
    """A DKIM-style ``tag=value;`` list (DKIM-Signature, ARC-Seal) with whitespace removed."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        match = _TAG.match(part)
        if match:
            tags.setdefault(match.group(1).lower(), re.sub(r"\s+", "", match.group(2)))
    return tags


def receiver_verdicts(message: ParsedMessage) -> list[AuthResults]:
    """Every Authentication-Results and ARC-Authentication-Results header, top first."""
    found = []
    for header in message.headers:
        if header.key in ("authentication-results", "arc-authentication-results"):
            found.append(parse_auth_results(header.value, header.name))
    return found


def group_by_server(verdicts: list[AuthResults]) -> dict[str, list[AuthResults]]:
    """The verdicts grouped by the server that wrote them, in the order servers first appear."""
    groups: dict[str, list[AuthResults]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.authserv_id, []).append(verdict)
    return groups


def arc_sets(message: ParsedMessage) -> list[ArcSet]:
    """The ARC-Seal headers' tags, lowest instance first."""
    seals = []
    for value in message.all("ARC-Seal"):
        tags = tag_list(value)
        if tags.get("i", "").isdigit():
            seals.append(
                ArcSet(int(tags["i"]), tags.get("cv", ""), tags.get("d", ""), tags.get("s", ""))
            )
    return sorted(seals, key=lambda s: s.instance)
