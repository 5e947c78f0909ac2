"""``tag=value; tag=value`` lists, as DMARC, MTA-STS, TLS-RPT and BIMI records write them."""

from __future__ import annotations


def tag_list(value: str, *, lower: bool = False) -> list[tuple[str, str]]:
    """The tags in order (duplicates kept, blank parts skipped); names lowercased if asked."""
    tags = []
    for part in value.split(";"):
        if part.strip():
            name, _, tag_value = part.partition("=")
            name = name.strip()
            tags.append((name.lower() if lower else name, tag_value.strip()))
    return tags
