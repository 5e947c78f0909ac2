"""The Public Suffix List Postdesk builds is the one the library builds, only faster."""

from __future__ import annotations

from publicsuffixlist import PublicSuffixList

from postdesk.core.validation import public_suffixes, suffixes_for


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


def _names_under(rule: str) -> list[str]:
    base = rule.lstrip("!").removeprefix("*.")
    return [base, f"shop.{base}", f"mail.shop.{base}", f"a.b.c.d.{base}"]


def test_the_rules_under_a_names_last_label_answer_as_the_whole_list() -> None:
    whole = public_suffixes()
    names = {"localhost", "example", "shop.test", "mail.shop.test", "xn--bcher-kva.example"}
    for rule in whole._publicsuffix:  # every rule, in its Unicode and its A-label form
        names.update(_names_under(rule))
    for name in sorted(names, key=lambda n: n.rpartition(".")[2]):  # one ending at a time
        part = suffixes_for(name)
        assert part.is_public(name) == whole.is_public(name), name
        for unknown in (True, False):
            expected = whole.privatesuffix(name, accept_unknown=unknown)
            assert part.privatesuffix(name, accept_unknown=unknown) == expected, name


def test_a_name_under_an_unlisted_ending_gets_no_rules() -> None:
    assert suffixes_for("shop.test")._publicsuffix == frozenset()
    assert not suffixes_for("shop.test").is_public("test")
