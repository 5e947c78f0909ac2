"""Checking what people type: domain names, host names, email addresses, ports, one-line fields.

Every rejection is a ``UserError`` whose message says what is wrong in plain words and whose hint
says what to type instead. Domains are stored in their ASCII (A-label) form; international names
are converted with IDNA 2008 (UTS 46 mapping) when the ``idna`` package is installed, otherwise
with Python's built-in IDNA 2003 codec, which accepts a few names IDNA 2008 does not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import re
import unicodedata
from collections.abc import Collection
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from postdesk.core.errors import UserError

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

# Only names with non-ASCII characters need an IDNA codec; it is imported when one comes.
IDNA_STANDARD = "IDNA 2008" if importlib.util.find_spec("idna") is not None else "IDNA 2003"


@lru_cache(maxsize=1)
def _idna() -> ModuleType | None:
    """The ``idna`` package (IDNA 2008), or None when it is not installed."""
    try:
        import idna
    except ImportError:  # pragma: no cover - depends on what is installed
        return None
    return idna


def _idna2003() -> ModuleType:
    """Python's built-in IDNA 2003 codec, the fallback without the ``idna`` package."""
    import encodings.idna

    return encodings.idna


MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64

_EXAMPLE = "example.com"
_SEND_FROM_HINT = f"Type the domain you send email from, e.g. {_EXAMPLE}."
_ALLOWED_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
# Ideographic and full-width full stops are label separators in IDNA (UTS 46 section 2.3).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# RFC 5322 "atext": what an unquoted local part may contain besides dots.
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


@lru_cache(maxsize=1)
def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List, parsed once per process: share it, never parse another.

    Unknown endings are not public by default here, so "localhost" gets the clearer one-part
    message; callers that need the other answer pass ``accept_unknown`` to the query.
    """
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(_suffix_rules(), accept_unknown=False, accept_encoded_idn=False)


def _suffix_rules() -> list[str]:
    """The list's rules with the A-label form of each Unicode rule added after it.

    The library's own parser runs every rule, plain ASCII too, through the IDNA codec (~0.2 s,
    most of a ``check``'s own work). An ASCII rule is its own A-label, and the list's Unicode
    labels are already in normal form, so Punycode alone gives their A-labels. A test checks that
    the rules that result are exactly the set the library builds.
    """
    import publicsuffixlist

    rules: list[str] = []
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as source:
        for line in source:
            rule = line.lower().split(" ")[0].rstrip()
            if not rule or rule.startswith("//"):
                continue
            rules.append(rule)
            if not rule.isascii():
                labels = rule.split(".")
                rules.append(".".join(_a_label(label) for label in labels))
    return rules


def _a_label(label: str) -> str:
    """One label of a Public Suffix List rule in ASCII (a leading "!" kept)."""
    bang, name = ("!", label[1:]) if label.startswith("!") else ("", label)
    return label if name.isascii() else f"{bang}xn--{name.encode('punycode').decode('ascii')}"


@lru_cache(maxsize=1)
def _suffix_bytes() -> bytes:
    """The list's file with its ASCII letters lowercased (bytes: decoding and lowercasing the
    whole file as text cost ten times more; the list's other letters are lowercase already)."""
    import publicsuffixlist

    with open(publicsuffixlist.PSLFILE, "rb") as source:
        return source.read().lower()


def _rules_ending_in(label: str) -> list[str]:
    """The list's rules (read as the library reads a line) whose last label is ``label``.

    Found with ``bytes.find`` rather than a loop over every line, which would cost most of
    what reading the whole list costs; each line holding the label is looked at once.
    """
    data, needle, rules, start = _suffix_bytes(), label.encode("utf-8"), [], 0
    while (at := data.find(needle, start)) != -1:
        begin = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end == -1 else end
        start = end + 1
        # The library lowercases every line as text.
        rule = data[begin:end].decode("utf-8").lower().split(" ")[0].rstrip()
        if rule and not rule.startswith("//") and rule.rpartition(".")[2] == label:
            rules.append(rule)
    return rules


def suffixes_for(name: str) -> PublicSuffixList:
    """The Public Suffix List rules that can apply to ``name``: those under its last label.

    Any question about one name (is it public, what is its registered domain) only ever
    consults rules ending in the name's last label, so the answers are the whole list's; a
    handful of rules is parsed instead of all of them.
    """
    return _suffixes_under(name.strip().rstrip(".").rpartition(".")[2].lower())


@lru_cache(maxsize=64)
def _suffixes_under(top: str) -> PublicSuffixList:
    forms = {top}
    with contextlib.suppress(UnicodeError, ValueError):
        if top.startswith("xn--"):
            forms.add(top[4:].encode("ascii").decode("punycode"))
        elif not top.isascii():
            forms.add(_a_label(top))
    rules = [rule for form in sorted(forms) for rule in _rules_ending_in(form)]
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(rules, accept_unknown=False)


def _describe(char: str) -> str:
    """Name a character so that a user can find it, even when it is invisible."""
    if char.isprintable() and not char.isspace():
        return f"“{char}”"
    name = unicodedata.name(char, "")
    return f"a hidden character (U+{ord(char):04X}{' ' + name if name else ''})"


def _quote(text: str, limit: int = 60) -> str:
    """Put typed text in quotes for a message, shortened so a message stays readable."""
    return quote_input(text, limit)


def _syntax_error(code: str, message: str, hint: str) -> UserError:
    return UserError(f"domain.{code}", message, hint)


def _suggestion(candidate: str | None) -> str | None:
    """The valid domain hidden in a URL or an address, if there is one."""
    if candidate:
        try:
            return _domain_syntax(candidate)
        except UserError:
            pass
    return None


def _just_the_domain(host: str | None) -> str:
    return f"Type just the domain, e.g. {_suggestion(host) or _EXAMPLE}."


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _reject_wrong_shapes(text: str) -> None:
    """Catch things that are not a bare domain: URLs, email addresses, IPs, spaces."""
    if "://" in text or text.lower().startswith(("http:", "https:")):
        try:
            host = urlsplit(text if "://" in text else "//" + text.split(":", 1)[1]).hostname
        except ValueError:
            host = None
        raise _syntax_error(
            "url",
            f"{_quote(text)} is a web address, not a domain name.",
            _just_the_domain(host),
        )
    if "@" in text:
        after = text.rsplit("@", 1)[1]
        suggestion = _suggestion(after)
        hint = (
            f"Type only the part after @: {suggestion}."
            if suggestion
            else f"Type only the part after @, e.g. {_EXAMPLE}."
        )
        raise _syntax_error(
            "email", f"{_quote(text)} is an email address, not a domain name.", hint
        )
    if _looks_like_ip(text):
        raise _syntax_error(
            "ip_address",
            f"{_quote(text)} is an IP address. Postdesk needs a domain name.",
            _SEND_FROM_HINT,
        )
    for mark in "/?#":
        if mark in text:
            host = text.split(mark, 1)[0]
            raise _syntax_error(
                "url",
                f"{_quote(text)} has more than the domain: the part from “{mark}” on "
                "doesn't belong in it.",
                _just_the_domain(host),
            )
    if ":" in text:
        host, port = text.rsplit(":", 1)
        what = "a port number" if port.isdigit() else "a “:”"
        raise _syntax_error(
            "url",
            f"{_quote(text)} has {what} after the domain.",
            _just_the_domain(host),
        )
    if any(c.isspace() for c in text):
        raise _syntax_error(
            "spaces",
            f"{_quote(text)} contains spaces. A domain name has no spaces.",
            f"Remove the spaces, e.g. {_suggestion(''.join(text.split())) or _EXAMPLE}.",
        )


def _first_bad_char(text: str) -> str | None:
    for char in text:
        if char.isascii() and char.lower() not in _ALLOWED_ASCII:
            return char
        if not char.isascii() and (
            not char.isprintable() or unicodedata.category(char) in ("Cf", "Zl", "Zp")
        ):
            return char
    return None


def _bad_char_error(text: str, char: str) -> UserError:
    return _syntax_error(
        "invalid_char",
        f"{_quote(text)} contains {_describe(char)}, which can't be used in a domain name.",
        f"Use only letters, digits, hyphens (-) and dots, e.g. {_EXAMPLE}.",
    )


def _bad_idn_error(label: str) -> UserError:
    return _syntax_error(
        "bad_idn",
        f"{_quote(label)} is not a valid part of an international domain name.",
        "Type the domain exactly as it is registered, e.g. bücher.de.",
    )


def _remap(name: str) -> str:
    """Apply the IDNA case folding and character mapping to a name with non-ASCII characters."""
    idna = _idna()
    if idna is None:
        return unicodedata.normalize("NFKC", name).lower()
    return str(idna.uts46_remap(name, std3_rules=False, transitional=False))


def _to_a_label(label: str) -> str:
    """Convert one non-ASCII label to its xn-- form (length is checked by the caller)."""
    try:
        idna = _idna()
        if idna is not None:
            idna.check_label(label)
            return "xn--" + label.encode("punycode").decode("ascii")
        prepared = _idna2003().nameprep(label)
        if prepared.isascii():
            return prepared
        return "xn--" + prepared.encode("punycode").decode("ascii")
    except (UnicodeError, ValueError) as err:
        bad = next((c for c in label if not _idna_allowed(c)), None)
        if bad is not None:
            raise _bad_char_error(label, bad) from err
        raise _bad_idn_error(label) from err


def _idna_allowed(char: str) -> bool:
    """Whether IDNA 2008 allows a character at all (some only in the right company)."""
    idna = None if char.isascii() else _idna()
    if idna is None:
        return True
    classes = idna.idnadata.codepoint_classes
    return any(
        idna.intranges_contain(ord(char), classes[name])
        for name in ("PVALID", "CONTEXTJ", "CONTEXTO")
        if name in classes
    )


def _to_u_label(label: str) -> str:
    """Decode an xn-- label; raises UnicodeError when it is not a valid A-label."""
    idna = _idna()
    if idna is not None:
        return str(idna.ulabel(label))
    return str(_idna2003().ToUnicode(label))


def _check_label(label: str, original: str) -> None:
    if not label:
        raise _syntax_error(
            "empty_label",
            f"{_quote(original)} has an empty part: two dots in a row, or a dot at the start.",
            f"Remove the extra dot, e.g. {_EXAMPLE}.",
        )
    if len(label) > MAX_LABEL_LENGTH:
        raise _syntax_error(
            "label_too_long",
            f"The part “{label[:20]}…” is {len(label)} characters long; "
            f"each part between dots may have at most {MAX_LABEL_LENGTH}.",
            "Check the domain for a typing mistake.",
        )
    if label.startswith("-") or label.endswith("-"):
        raise _syntax_error(
            "hyphen",
            f"The part {_quote(label)} starts or ends with a hyphen, "
            "which domain names don't allow.",
            "Remove the hyphen at the start or end of that part.",
        )
    if label.startswith("xn--"):
        try:
            decoded = _to_u_label(label)
        except (UnicodeError, ValueError) as err:
            raise _bad_idn_error(label) from err
        if decoded.isascii():
            raise _bad_idn_error(label)


@lru_cache(maxsize=4096)
def _domain_syntax(text: str) -> str:
    """Turn typed text into a lowercase A-label name, checking only its syntax.

    Kept for names seen before: the relay checks the domain of every envelope address."""
    original = text.strip()
    if not original:
        raise _syntax_error(
            "empty",
            "The domain name is empty.",
            _SEND_FROM_HINT,
        )
    _reject_wrong_shapes(original)
    bad = _first_bad_char(original)
    if bad is not None:
        raise _bad_char_error(original, bad)
    name = original.translate(_DOTS).lower()
    if not name.isascii():
        try:
            name = _remap(name)
        except (UnicodeError, ValueError) as err:
            bad = next((c for c in original if not _remaps_cleanly(c)), None)
            if bad is not None:
                raise _bad_char_error(original, bad) from err
            raise _bad_idn_error(original) from err
        bad = _first_bad_char(name)
        if bad is not None:
            raise _bad_char_error(original, bad)
    if name.endswith("."):
        name = name[:-1]
    labels = [label if label.isascii() else _to_a_label(label) for label in name.split(".")]
    for label in labels:
        _check_label(label, original)
    a_label = ".".join(labels)
    if len(a_label) > MAX_NAME_LENGTH:
        raise _syntax_error(
            "too_long",
            f"The domain is {len(a_label)} characters long; a domain may have at most "
            f"{MAX_NAME_LENGTH}.",
            "Check the domain for a typing mistake.",
        )
    if labels[-1].isdigit():
        raise _syntax_error(
            "ip_address",
            f"{_quote(original)} looks like an IP address. Postdesk needs a domain name.",
            _SEND_FROM_HINT,
        )
    return a_label


def _remaps_cleanly(char: str) -> bool:
    try:
        _remap(char)
    except (UnicodeError, ValueError):
        return False
    return True


def domain_syntax(text: str) -> str:
    """A typed domain in lowercase A-label form, checking only its syntax (else a UserError)."""
    return _domain_syntax(text)


def quiet_a_label(name: str) -> str:
    """The A-label form of a name when it is valid, else just trimmed and lowercased."""
    try:
        return _domain_syntax(name)
    except UserError:
        return name.strip().lower().rstrip(".")


def normalize_domain(text: str, *, existing: Collection[str] = ()) -> str:
    """Check a domain the user typed and return its lowercase A-label form (no trailing dot)."""
    a_label = _domain_syntax(text)
    shown = display_domain(a_label)
    if suffixes_for(a_label).is_public(a_label):
        raise _syntax_error(
            "public_suffix",
            f"{_quote(shown)} is an ending shared by many sites, not a domain someone owns.",
            f"Type your own domain under it, e.g. yourname.{shown}.",
        )
    if "." not in a_label:
        raise _syntax_error(
            "single_label",
            f"{_quote(shown)} is only one part. A domain for sending email has at least two, "
            "like example.com.",
            f"Type the full domain, with its ending, e.g. {_EXAMPLE}.",
        )
    if a_label in {quiet_a_label(name) for name in existing}:
        raise _syntax_error(
            "exists",
            f"{_quote(shown)} is already added.",
            "Pick it in the list of domains, or type a different domain.",
        )
    return a_label


def display_domain(a_label: str) -> str:
    """The Unicode form of a stored domain, for showing; labels that can't be decoded stay."""
    shown = []
    for label in a_label.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = _to_u_label(label)
        shown.append(label)
    return ".".join(shown)


# --- shared small validators ----------------------------------------------------------------


def check_field(name: str, value: str) -> str:
    """Reject line breaks and control characters (they would break mail headers); return value."""
    if value.isprintable():  # no character of the categories below
        return value
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            what = "a line break" if char in "\r\n\u2028\u2029\x85" else _describe(char)
            raise UserError(
                "input.control_chars",
                f"{name} contains {what}.",
                f"Type {name.lower()} on one line, without hidden characters.",
            )
    return value


def normalize_email(text: str) -> str:
    """Check an email address; return it trimmed, with its domain in lowercase A-label form."""
    address = check_field("The email address", text.strip())
    hint = "Type an address such as name@example.com."
    if not address:
        raise UserError("email.empty", "The email address is empty.", hint)
    if "@" not in address:
        raise UserError("email.missing_at", f"{_quote(address)} has no @ in it.", hint)
    local, domain = address.rsplit("@", 1)
    if not local or any(not part or not _ATEXT.fullmatch(part) for part in local.split(".")):
        raise UserError(
            "email.local_part",
            f"The part before @ in {_quote(address)} is not valid.",
            "Use letters, digits and . _ - + only, with no dot at the start or end, "
            "e.g. name@example.com.",
        )
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise UserError(
            "email.local_part",
            f"The part before @ in {_quote(address)} is longer than "
            f"{MAX_LOCAL_PART_LENGTH} characters.",
            "Use a shorter name before @.",
        )
    try:
        a_domain = _domain_syntax(domain)
    except UserError as err:
        raise UserError(
            "email.domain",
            f"The part after @ in {_quote(address)} is not valid: {err.message}",
            hint,
        ) from err
    if "." not in a_domain:
        raise UserError(
            "email.domain", f"The part after @ in {_quote(address)} is not a full domain.", hint
        )
    result = f"{local}@{a_domain}"
    if len(result) > MAX_EMAIL_LENGTH:
        raise UserError(
            "email.too_long",
            f"The address is longer than {MAX_EMAIL_LENGTH} characters.",
            "Use a shorter address.",
        )
    return result


def valid_hostname(text: str) -> bool:
    """True for an ASCII host name such as smtp.example.com (one trailing dot allowed)."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > MAX_NAME_LENGTH:
        return False
    labels = name.lower().split(".")
    return all(_LDH_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def check_hostname(text: str, *, allow_ip: bool = True) -> str:
    """Check a server host name (or IP address) and return it in lowercase A-label form."""
    host = check_field("The server name", text.strip())
    hint = "Type the server name only, e.g. smtp.example.com."
    if host.startswith("[") != host.endswith("]"):
        raise UserError(
            "host.brackets",
            f"{_quote(host)} has an opening or closing bracket without its partner.",
            "Write an IPv6 address with both brackets, e.g. [2001:db8::25], or with none.",
        )
    if allow_ip and _looks_like_ip(host):
        return str(ipaddress.ip_address(host.strip("[]")))
    if "://" in host or "/" in host:
        raise UserError("host.url", f"{_quote(host)} is a web address, not a server name.", hint)
    if ":" in host and host.rsplit(":", 1)[1].isdigit():
        raise UserError(
            "host.port",
            f"{_quote(host)} includes a port number.",
            "Type the server name here and the port in the port field.",
        )
    try:
        a_label = _domain_syntax(host)
    except UserError as err:
        raise UserError(
            "host.invalid", f"{_quote(host)} is not a valid server name.", hint
        ) from err
    return a_label


def check_port(value: int | str) -> int:
    """Check a TCP port number (1 to 65535) and return it as an int."""
    hint = "Use a number from 1 to 65535; for sending email that is usually 587 or 465."
    if isinstance(value, bool):
        raise UserError("input.port", "The port must be a number.", hint)
    text = str(value).strip()
    if not text.isdecimal() or not text.isascii():
        raise UserError("input.port", f"{_quote(text)} is not a port number.", hint)
    port = int(text)
    if not 1 <= port <= 65535:
        raise UserError("input.port", f"Port {port} is out of range.", hint)
    return port


# --- echoing what was typed -----------------------------------------------------------------

ECHO_LIMIT = 60
_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def escape_input(text: str) -> str:
    """Typed text with line breaks and other hidden characters written as escapes (``\\n``,
    ``\\x00``, ``\\u200b``), so echoing it can never start a new line or hide a character."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)


def quote_input(text: object, limit: int = ECHO_LIMIT) -> str:
    """Typed text for a message: quoted, escaped and cut to ``limit`` characters with “…”."""
    shown = escape_input(str(text))
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"“{shown}”"


def check_length(name: str, value: str, limit: int) -> str:
    """Refuse a one-line field longer than ``limit`` characters; returns the value."""
    if len(value) > limit:
        raise UserError(
            "input.too_long",
            f"{name} has {len(value):,} characters; at most {limit} are allowed.",
            f"Use {limit} characters or fewer.",
        )
    return value


_DNS_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def check_spf_include(text: str) -> str:
    """Check the domain a provider asks to be included in SPF (e.g. ``sendgrid.net`` or
    ``_spf.google.com``); returns it in lowercase without a trailing dot."""
    check_field("The SPF include", text)
    name = text.strip().lower()
    name = name.removeprefix("include:").rstrip(".")
    hint = "Type only the domain your provider names after include:, e.g. sendgrid.net."
    labels = name.split(".")
    if (
        not name
        or len(name) > MAX_NAME_LENGTH
        or len(labels) < 2
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise UserError(
            "service.spf_include",
            f"{quote_input(text.strip())} is not a domain name for an SPF include.",
            hint,
        )
    return name
