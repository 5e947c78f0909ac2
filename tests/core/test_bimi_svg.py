"""The SVG Tiny Portable/Secure rules BIMI logos must follow, on good and bad logos."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.bimi import svg_problems

GOOD = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"
     viewBox="0 0 100 100">
  <title>Shop</title>
  <circle cx="50" cy="50" r="40" fill="#c00"/>
  <path d="M20 50 L80 50" stroke="#fff" stroke-width="8"/>
</svg>
"""


def svg(
    body: str = "", root: str = 'version="1.2" baseProfile="tiny-ps" viewBox="0 0 100 100"'
) -> bytes:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f"{root}><title>Shop</title>{body}</svg>"
    ).encode()


def test_a_tiny_ps_logo_passes() -> None:
    assert svg_problems(GOOD) == []


def test_a_logo_with_a_checkdmarc_clean_bill_of_health() -> None:
    from checkdmarc.bimi import check_svg_requirements, get_svg_metadata

    assert check_svg_requirements(get_svg_metadata(GOOD)) == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (svg(root='version="1.1" viewBox="0 0 100 100"'), 'baseProfile is None, not "tiny-ps"'),
        (svg(root='version="1.1" baseProfile="tiny-ps" viewBox="0 0 1 1"'), 'not "1.2"'),
        (svg(root='version="1.2" baseProfile="tiny" viewBox="0 0 1 1"'), "'tiny', not"),
        (svg(root='version="1.2" baseProfile="tiny-ps" viewBox="0 0 200 100"'), "not square"),
        (svg(root='version="1.2" baseProfile="tiny-ps"'), "no viewBox"),
        (svg(root='version="1.2" baseProfile="tiny-ps" viewBox="0 0 9 9" x="0"'), "has x="),
        (svg("<script>alert(1)</script>"), "contains a <script>"),
        (svg('<image xlink:href="#a" width="9" height="9"/>'), "a raster <image>"),
        (svg('<use xlink:href="http://cdn.example/logo.svg#x"/>'), "links outside the file"),
        (svg('<use href="https://cdn.example/x"/>'), "links outside the file"),
        (svg('<rect style="fill:url(http://x.example/p)"/>'), "styles load something"),
        (svg('<rect width="9"><animate attributeName="x" to="5"/></rect>'), "animation"),
        (svg('<rect width="9" onclick="go()"/>'), "event handlers"),
        (b"<svg", "not well-formed XML"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element is not an SVG"),
    ],
)
def test_each_broken_rule_is_named(data: bytes, problem: str) -> None:
    found = svg_problems(data)
    assert any(problem in p for p in found), found


def test_a_missing_or_empty_title_is_named() -> None:
    no_title = GOOD.replace(b"<title>Shop</title>", b"")
    empty = GOOD.replace(b"<title>Shop</title>", b"<title> </title>")
    assert svg_problems(no_title) == ["it has no <title> naming the brand"]
    assert svg_problems(empty) == ["it has no <title> naming the brand"]


def test_a_local_reference_is_allowed() -> None:
    body = '<defs><path id="p" d="M0 0"/></defs><use xlink:href="#p"/>'
    assert svg_problems(svg(body)) == []


def test_more_than_32_kb_is_too_big() -> None:
    padding = "<!-- " + "x" * 33_000 + " -->"
    data = svg(padding)
    too_big = f"it is {len(data):,} bytes, more than the 32 KB (32,768) allowed"
    assert svg_problems(data) == [too_big]


def test_entity_expansion_is_refused_without_expanding() -> None:
    # The "billion laughs": expanding it would take gigabytes; it must be refused as is.
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
        )
        + b']><svg xmlns="http://www.w3.org/2000/svg"><title>&j;</title></svg>'
    )
    assert svg_problems(lol) == ["it declares a DTD or entities, which SVG Tiny PS does not allow"]
