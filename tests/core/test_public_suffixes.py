"""The Public Suffix List Postdesk builds is the one the library builds, only faster."""

from __future__ import annotations

from publicsuffixlist import PublicSuffixList

from postdesk.core.validation import public_suffixes


def test_the_same_rules_as_the_librarys_own_parser() -> None:
    ours, theirs = public_suffixes(), PublicSuffixList(accept_unknown=False)
    # The parsed rule set is all a query consults; comparing it covers every domain at once.
    assert ours._publicsuffix == theirs._publicsuffix
    assert ours._maxlabel == theirs._maxlabel


def test_unicode_suffixes_are_known_in_both_forms() -> None:
    psl = public_suffixes()
    for suffix in ("co.uk", "公司.cn", "xn--55qx5d.cn", "個人.香港", "xn--gmqw5a.xn--j6w193g"):
        assert psl.is_public(suffix), suffix
    assert psl.privatesuffix("mail.shop.xn--55qx5d.cn") == "shop.xn--55qx5d.cn"
    assert psl.privatesuffix("www.shop.example.co.uk") == "example.co.uk"
    assert not psl.is_public("localhost.example")
