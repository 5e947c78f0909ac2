"""One way to read a domain name or a DKIM selector, wherever it is typed or looked up."""

from __future__ import annotations

import pytest

from postdesk.core import domainname, domains
from postdesk.core.errors import UserError


def refusal(fn, text: str) -> UserError:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError) as caught:
        fn(text)
    return caught.value


@pytest.mark.parametrize(
    "typed",
    ["sh\u200bop.test", "shop\u200d.test", "https://shop.test/", "shop..test", "-shop.test"],
)
def test_looking_a_domain_up_refuses_what_adding_it_refuses(typed: str) -> None:
    added = refusal(domainname.normalize_domain, typed)
    looked_up = refusal(domainname.to_a_label, typed)
    assert (looked_up.code, looked_up.message) == (added.code, added.message)


def test_a_hidden_character_never_matches_a_stored_name() -> None:
    # Python's own IDNA codec silently drops U+200B, which made "sh\u200bop.test" find shop.test
    assert domains.lookup_name("sh\u200bop.test") != "shop.test"
    assert domains.lookup_name(" Shop.TEST. ") == "shop.test"
    assert domains.lookup_name("Bücher.de") == "xn--bcher-kva.de"


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Bounce.Mailer.Test.", "bounce.mailer.test"),
        ("_spf.Google.com", "_spf.google.com"),  # a DNS name, not a host name: kept as it is
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_names_from_dns_and_settings_compare_in_one_form(name: str, stored: str) -> None:
    assert domainname.canonical(name) == stored


@pytest.mark.parametrize("selector", ["s1", "PD20261129", "mail-2024", "a.b", "x" * 63])
def test_valid_selectors_are_kept_in_lowercase(selector: str) -> None:
    assert domainname.check_selector(f" {selector} ") == selector.lower()


@pytest.mark.parametrize(
    ("selector", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a..b", "empty part"),
        (".s1", "empty part"),
        ("s1.", "empty part"),
        ("x" * 64, "at most 63"),
        ("s1\r\nX-Injected: yes", "characters a selector can't have"),
        ("s_1", "characters a selector can't have"),
        ("s1/x", "characters a selector can't have"),
        ("-s1", "characters a selector can't have"),
        ("sél", "characters a selector can't have"),
    ],
)
def test_invalid_selectors_say_what_is_wrong_on_one_line(selector: str, words: str) -> None:
    error = refusal(domainname.check_selector, selector)
    assert error.code == "dkim.selector"
    assert words in error.message
    assert "\n" not in error.message and "\r" not in error.message
    if "\r" in selector:
        assert "\\r\\n" in error.message  # shown escaped, never as a line break


def test_a_selector_must_leave_room_for_the_domain() -> None:
    long = ".".join(["x" * 60] * 3)  # 182 characters, fine alone
    assert domainname.check_selector(long) == long
    error = refusal(lambda s: domainname.check_selector(s, domain="d" * 60 + ".example.com"), long)
    assert "253" in error.message
