"""What a user sees when typing a domain, a host, an address or a port."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postdesk.core import validation
from postdesk.core.errors import UserError
from postdesk.core.validation import (
    check_field,
    check_hostname,
    check_port,
    display_domain,
    normalize_domain,
    normalize_email,
    valid_hostname,
)


def rejection(text: str, **kwargs: object) -> UserError:
    with pytest.raises(UserError) as caught:
        normalize_domain(text, **kwargs)  # type: ignore[arg-type]
    assert caught.value.message and caught.value.hint
    return caught.value


# --- accepted input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("example.com", "example.com"),
        ("  Example.COM  ", "example.com"),
        ("example.com.", "example.com"),
        ("mail.shop.example.co.uk", "mail.shop.example.co.uk"),
        ("my-shop.github.io", "my-shop.github.io"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.DE", "xn--bcher-kva.de"),
        ("ÉXAMPLE.com", "xn--xample-9ua.com"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("münchen。de", "xn--mnchen-3ya.de"),  # an ideographic full stop separates labels too
        ("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"),  # full-width letters typed with an IME
    ],
)
def test_a_valid_domain_is_stored_lowercase_in_ascii_form(typed: str, stored: str) -> None:
    assert normalize_domain(typed) == stored


def test_an_international_domain_is_shown_in_its_own_letters() -> None:
    assert display_domain("xn--bcher-kva.de") == "bücher.de"
    assert display_domain("example.com") == "example.com"
    assert display_domain("xn--zz.de") == "xn--zz.de"  # undecodable labels are shown as stored


def test_idna_2003_is_used_when_the_idna_package_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(validation, "_idna", lambda: None)
    validation._domain_syntax.cache_clear()  # names checked earlier were checked with IDNA 2008
    assert normalize_domain("Bücher.de") == "xn--bcher-kva.de"
    assert display_domain("xn--bcher-kva.de") == "bücher.de"
    assert rejection("xn--zz.de").code == "domain.bad_idn"


# --- every rejection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code", "in_message", "hint"),
    [
        ("", "domain.empty", "empty", "e.g. example.com"),
        ("   ", "domain.empty", "empty", "e.g. example.com"),
        ("https://www.Example.com/shop", "domain.url", "web address", "e.g. www.example.com"),
        ("http://", "domain.url", "web address", "type just the domain, e.g. example.com"),
        ("ftp://files.example.org", "domain.url", "web address", "e.g. files.example.org"),
        ("http:example.com", "domain.url", "web address", "e.g. example.com"),
        ("example.com/shop", "domain.url", "“/”", "type just the domain, e.g. example.com"),
        ("example.com?ref=1", "domain.url", "“?”", "e.g. example.com"),
        ("example.com:8080", "domain.url", "port number", "type just the domain, e.g. example.com"),
        ("info@example.com", "domain.email", "email address", "part after @: example.com"),
        (
            "info@Shop.Example.org",
            "domain.email",
            "email address",
            "part after @: shop.example.org",
        ),
        ("info@", "domain.email", "email address", "part after @, e.g. example.com"),
        ("my shop.com", "domain.spaces", "spaces", "e.g. myshop.com"),
        ("exa_mple.com", "domain.invalid_char", "“_”", "letters, digits, hyphens"),
        ("shop!.com", "domain.invalid_char", "“!”", "letters, digits, hyphens"),
        ("ex\x00ample.com", "domain.invalid_char", "U+0000", "letters, digits, hyphens"),
        ("a\u200bb.com", "domain.invalid_char", "U+200B ZERO WIDTH SPACE", "letters, digits"),
        ("☃.com", "domain.invalid_char", "“☃”", "letters, digits, hyphens"),
        ("a" * 64 + ".com", "domain.label_too_long", "64 characters", "typing mistake"),
        ("ä" * 60 + ".de", "domain.label_too_long", "at most 63", "typing mistake"),
        (".".join(["a" * 60] * 5) + ".com", "domain.too_long", "at most", "typing mistake"),
        ("a..b.com", "domain.empty_label", "two dots in a row", "Remove the extra dot"),
        (".example.com", "domain.empty_label", "dot at the start", "Remove the extra dot"),
        ("example.com..", "domain.empty_label", "empty part", "Remove the extra dot"),
        ("-shop.com", "domain.hyphen", "“-shop”", "Remove the hyphen"),
        ("shop-.com", "domain.hyphen", "“shop-”", "Remove the hyphen"),
        ("192.0.2.10", "domain.ip_address", "IP address", "e.g. example.com"),
        ("2001:db8::1", "domain.ip_address", "IP address", "e.g. example.com"),
        ("[2001:db8::1]", "domain.ip_address", "IP address", "e.g. example.com"),
        ("127.1", "domain.ip_address", "IP address", "e.g. example.com"),
        ("localhost", "domain.single_label", "only one part", "full domain"),
        ("example", "domain.single_label", "only one part", "full domain"),
        ("com", "domain.public_suffix", "shared by many", "yourname.com"),
        ("co.uk", "domain.public_suffix", "shared by many", "yourname.co.uk"),
        ("github.io", "domain.public_suffix", "shared by many", "yourname.github.io"),
        ("xn--zz.de", "domain.bad_idn", "international", "as it is registered"),
    ],
)
def test_a_wrong_domain_is_rejected_with_what_to_type_instead(
    typed: str, code: str, in_message: str, hint: str
) -> None:
    error = rejection(typed)
    assert error.code == code
    assert in_message.lower() in error.message.lower()
    assert hint.lower() in error.hint.lower()


@pytest.mark.parametrize("typed", ["bücher.de", "XN--BCHER-KVA.DE", "Bücher.de."])
def test_a_domain_already_added_is_rejected_in_any_spelling(typed: str) -> None:
    error = rejection(typed, existing=["example.com", "xn--bcher-kva.de"])
    assert error.code == "domain.exists"
    assert "bücher.de" in error.message


def test_existing_domains_stored_in_unicode_are_compared_in_ascii_form() -> None:
    assert rejection("xn--bcher-kva.de", existing=["Bücher.de"]).code == "domain.exists"
    assert normalize_domain("shop.example.com", existing=["example.com"]) == "shop.example.com"


def test_a_very_long_input_is_shortened_in_the_message() -> None:
    error = rejection("https://" + "a" * 500)
    assert len(error.message) < 120


# --- properties -------------------------------------------------------------------------------

_label = st.text(alphabet=st.sampled_from("abcxyzABC019-éüßçøłжя日本"), min_size=1, max_size=12)
_domainish = st.builds(
    lambda prefix, labels, suffix: prefix + ".".join(labels) + suffix,
    st.sampled_from(["", " ", "https://", "www.", "info@", "."]),
    st.lists(_label, min_size=1, max_size=4),
    st.sampled_from(["", ".", "..", ".com", ".co.uk", "/x", ":25", " "]),
)


@settings(max_examples=400)
@given(st.one_of(st.text(), _domainish))
@example("xn--bcher-kva.de")
@example("İstanbul.com")
@example("ß.de")
@example("a\u0301.com")
def test_any_text_gives_a_valid_domain_or_a_message_with_a_hint(text: str) -> None:
    try:
        result = normalize_domain(text)
    except UserError as error:
        assert error.code.startswith("domain.")
        assert error.message.strip() and error.hint.strip()
        return
    assert result == result.lower() and result.isascii()
    assert valid_hostname(result) and "." in result and len(result) <= 253
    assert normalize_domain(result) == result  # storing it again changes nothing
    assert normalize_domain(display_domain(result)) == result  # what we show maps back


# --- shared validators ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["line\r\nBcc: x@example.com", "a\nb", "tab\there", "nul\x00"])
def test_a_field_with_line_breaks_or_control_characters_is_rejected(value: str) -> None:
    with pytest.raises(UserError) as caught:
        check_field("Reply-to name", value)
    assert caught.value.code == "input.control_chars"
    assert caught.value.message.startswith("Reply-to name contains")
    assert "one line" in caught.value.hint


def test_a_line_break_is_called_a_line_break() -> None:
    with pytest.raises(UserError, match="a line break"):
        check_field("Subject", "Hello\nWorld")


def test_a_normal_field_is_returned_unchanged() -> None:
    assert check_field("Name", "Zoë's Café – Shop") == "Zoë's Café – Shop"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Info@Example.COM ", "Info@example.com"),
        ("first.last+tag@shop.example.co.uk", "first.last+tag@shop.example.co.uk"),
        ("post@bücher.de", "post@xn--bcher-kva.de"),
    ],
)
def test_an_email_address_keeps_its_name_and_gets_a_lowercase_domain(
    typed: str, stored: str
) -> None:
    assert normalize_email(typed) == stored


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "email.empty"),
        ("example.com", "email.missing_at"),
        ("@example.com", "email.local_part"),
        (".name@example.com", "email.local_part"),
        ("first..last@example.com", "email.local_part"),
        ("my name@example.com", "email.local_part"),
        ("x" * 65 + "@example.com", "email.local_part"),
        ("name@", "email.domain"),
        ("name@localhost", "email.domain"),
        ("name@exa_mple.com", "email.domain"),
        ("name@example.com\r\nBcc: y@example.com", "input.control_chars"),
        ("n" * 60 + "@" + ".".join(["a" * 60] * 4) + ".com", "email.too_long"),
    ],
)
def test_a_wrong_email_address_is_rejected(typed: str, code: str) -> None:
    with pytest.raises(UserError) as caught:
        normalize_email(typed)
    assert caught.value.code == code
    assert caught.value.message and caught.value.hint


@pytest.mark.parametrize(
    ("host", "valid"),
    [
        ("smtp.example.com", True),
        ("SMTP.Example.com.", True),
        ("localhost", True),
        ("mail-1.example.com", True),
        ("", False),
        ("-smtp.example.com", False),
        ("smtp_1.example.com", False),
        ("smtp..example.com", False),
        ("192.0.2.1", False),
        ("bücher.de", False),
        ("a" * 64 + ".com", False),
    ],
)
def test_valid_hostname(host: str, valid: bool) -> None:
    assert valid_hostname(host) is valid


def test_check_hostname_accepts_names_and_ip_addresses() -> None:
    assert check_hostname(" SMTP.Example.com ") == "smtp.example.com"
    assert check_hostname("mail.bücher.de") == "mail.xn--bcher-kva.de"
    assert check_hostname("192.0.2.1") == "192.0.2.1"
    assert check_hostname("[2001:DB8::1]") == "2001:db8::1"


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("smtp.example.com:587", "host.port"),
        ("https://smtp.example.com", "host.url"),
        ("smtp example.com", "host.invalid"),
        ("", "host.invalid"),
    ],
)
def test_check_hostname_rejects_what_is_not_a_server_name(host: str, code: str) -> None:
    with pytest.raises(UserError) as caught:
        check_hostname(host)
    assert caught.value.code == code
    assert caught.value.hint


def test_check_hostname_can_refuse_ip_addresses() -> None:
    with pytest.raises(UserError):
        check_hostname("192.0.2.1", allow_ip=False)


@pytest.mark.parametrize(
    ("value", "port"), [(587, 587), ("465", 465), (" 25 ", 25), (65535, 65535)]
)
def test_a_port_in_range_is_accepted(value: int | str, port: int) -> None:
    assert check_port(value) == port


@pytest.mark.parametrize(
    ("value", "in_message"),
    [
        (0, "out of range"),
        (65536, "out of range"),
        ("-1", "not a port"),
        ("smtp", "not a port"),
        ("", "not a port"),
        ("٥٨٧", "not a port"),
        (True, "must be a number"),
    ],
)
def test_a_wrong_port_says_which_numbers_work(value: int | str, in_message: str) -> None:
    with pytest.raises(UserError) as caught:
        check_port(value)
    assert caught.value.code == "input.port"
    assert in_message in caught.value.message
    assert "1 to 65535" in caught.value.hint


@pytest.mark.parametrize("host", ["[::1", "::1]", "[2001:db8::1", "smtp.example.com]"])
def test_an_unbalanced_bracket_is_not_taken_as_an_address(host: str) -> None:
    with pytest.raises(UserError) as caught:
        check_hostname(host)
    assert caught.value.code == "host.brackets"


# --- echoing what was typed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("shop.test", "“shop.test”"),
        ("a\r\nb", "“a\\r\\nb”"),
        ("nul\x00 tab\t", "“nul\\x00 tab\\t”"),
        ("zero\u200bwidth", "“zero\\u200bwidth”"),
        ("line\u2028sep", "“line\\u2028sep”"),
        ("bücher.de", "“bücher.de”"),
    ],
)
def test_echoed_input_shows_hidden_characters_as_escapes(typed: str, shown: str) -> None:
    assert validation.quote_input(typed) == shown


def test_echoed_input_is_cut_to_a_readable_length() -> None:
    shown = validation.quote_input("x" * 10_000)
    assert len(shown) == validation.ECHO_LIMIT + 2  # the quotes
    assert shown.endswith("…”")


@pytest.mark.parametrize(
    "typed", ["a" * 10_000, "a." * 5_000 + "com", "shop\r\nBcc: x@evil.test", "sh\x00op.test"]
)
def test_a_refused_domain_is_echoed_short_and_on_one_line(typed: str) -> None:
    error = rejection(typed)
    assert len(str(error)) < 300
    assert "\n" not in str(error) and "\r" not in str(error) and "\x00" not in str(error)


def test_a_field_over_its_limit_says_the_limit() -> None:
    assert validation.check_length("The label", "x" * 100, 100) == "x" * 100
    with pytest.raises(UserError) as caught:
        validation.check_length("The label", "x" * 101, 100)
    assert caught.value.code == "input.too_long"
    assert "100" in caught.value.message and "101" in caught.value.message


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("sendgrid.net", "sendgrid.net"),
        (" _spf.Google.com. ", "_spf.google.com"),
        ("include:mailgun.org", "mailgun.org"),
        ("amazonses.com", "amazonses.com"),
    ],
)
def test_an_spf_include_is_a_domain_name(typed: str, stored: str) -> None:
    assert validation.check_spf_include(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "not a domain",
        "sendgrid.net ~all",
        "sendgrid.net\r\n",
        "a.test\nb.test",
        "localhost",
        "",
        "-bad.example.com",
        "a..b.com",
        "192.0.2.1",
        "%{i}._spf.example.com",
        "x" * 300 + ".com",
    ],
)
def test_anything_else_as_an_spf_include_is_refused(typed: str) -> None:
    with pytest.raises(UserError) as caught:
        validation.check_spf_include(typed)
    assert caught.value.hint
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
