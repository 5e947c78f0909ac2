"""DKIM keys: what gets published must verify what the relay signs."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postdesk.core.dkimkeys import (
    DkimKey,
    dkim_txt_value,
    generate_dkim_key,
    new_selector,
    public_b64_from_private,
    public_key_bits,
)
from postdesk.core.errors import UserError
from postdesk.core.validation import valid_hostname

MAY_2024 = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_dkim_key(now=MAY_2024)


def test_a_new_key_is_2048_bit_rsa_in_the_standard_formats(key: DkimKey) -> None:
    assert key.bits == 2048
    assert key.private_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, not PKCS#1
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    public = serialization.load_der_public_key(base64.b64decode(key.public_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert key.created_at == MAY_2024


def test_the_private_key_never_shows_in_repr(key: DkimKey) -> None:
    body = key.private_pem.splitlines()[1]
    assert body not in repr(key) and "PRIVATE" not in repr(key)


def test_the_txt_value_is_the_published_form(key: DkimKey) -> None:
    assert key.txt_value == f"v=DKIM1; k=rsa; p={key.public_b64}"
    assert 400 < len(key.txt_value) < 420  # longer than one 255-byte TXT string


def test_a_signature_made_with_the_key_verifies_against_the_published_record(
    key: DkimKey,
) -> None:
    message = (
        b"From: Shop <news@example.com>\r\nTo: someone@example.org\r\n"
        b"Subject: Hello\r\n\r\nYour order has shipped.\r\n"
    )
    signature = dkim.sign(
        message,
        key.selector.encode(),
        b"example.com",
        key.private_pem.encode(),
        include_headers=[b"from", b"to", b"subject"],
    )
    published = {f"{key.selector}._domainkey.example.com.": key.txt_value.encode()}

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return published.get(name.decode())

    assert dkim.verify(signature + message, dnsfunc=dns)
    assert not dkim.verify(signature + message.replace(b"shipped", b"stalled"), dnsfunc=dns)


def test_the_public_key_can_be_derived_again_from_the_stored_private_key(key: DkimKey) -> None:
    assert public_b64_from_private(key.private_pem) == key.public_b64


def test_a_selector_tells_the_month_and_is_a_valid_dns_label(key: DkimKey) -> None:
    assert re.fullmatch(r"pd202405[0-9a-f]{4}", key.selector)
    assert valid_hostname(key.selector)


def test_a_new_selector_never_repeats_one_in_use() -> None:
    taken: set[str] = set()
    for _ in range(300):
        selector = new_selector(taken, now=MAY_2024)
        assert selector not in taken
        taken.add(selector)


def test_a_new_selector_grows_when_every_short_one_is_taken() -> None:
    every_short_one = {f"pd202405{n:04x}" for n in range(16**4)}
    selector = new_selector(every_short_one, now=MAY_2024)
    assert selector not in every_short_one and len(selector) > len("pd202405abcd")


def test_other_key_sizes_are_possible() -> None:
    small = generate_dkim_key(1024, selector="s1")
    assert small.selector == "s1" and public_key_bits(small.public_b64) == 1024


@pytest.mark.parametrize("bits", [512, 2000, 8192])
def test_unsafe_or_unusable_key_sizes_are_refused(bits: int) -> None:
    with pytest.raises(ValueError):
        generate_dkim_key(bits)


def test_the_key_size_is_read_from_a_published_p_value(key: DkimKey) -> None:
    assert public_key_bits(key.public_b64) == 2048
    # Some DNS hosts show the value broken over lines; the spaces don't matter.
    spaced = " ".join(key.public_b64[i : i + 64] for i in range(0, len(key.public_b64), 64))
    assert public_key_bits(spaced) == 2048


def test_the_key_size_is_read_from_a_bare_pkcs1_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    assert public_key_bits(base64.b64encode(der).decode()) == 1024


@pytest.mark.parametrize(
    "p_value", ["", "not base64!", "AAAA", base64.b64encode(b"x" * 40).decode()]
)
def test_an_unreadable_p_value_gives_a_plain_message(p_value: str) -> None:
    with pytest.raises(UserError) as caught:
        public_key_bits(p_value)
    assert caught.value.code == "dkim.bad_public_key"
    assert "p=" in caught.value.message and caught.value.hint


def test_dkim_txt_value_joins_a_key_broken_over_lines() -> None:
    assert dkim_txt_value("MIIB\nIjAN") == "v=DKIM1; k=rsa; p=MIIBIjAN"
