"""DNSSEC status against NSD serving zones signed by ldns-signzone (keys from ldns-keygen)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dns.nameserver
import pytest

from postdesk.core.dnscheck.dnssec import check_dnssec
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.records import RecordResult
from support.nsd import Nsd, zone_text
from support.services import need

pytestmark = pytest.mark.nsd

RECORDS = '@ IN TXT "v=spf1 -all"\n@ IN MX 10 mx\nmx IN A 127.0.0.1\n'
PARENT = "shop IN NS ns.shop.test.\nns.shop IN A 127.0.0.1\n"


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


@pytest.fixture
def signer(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Signs shop.test with a fresh KSK and ZSK: returns (signed zone text, DS record text)."""
    for tool in ("ldns-keygen", "ldns-signzone"):
        if not shutil.which(tool):
            need("ldns", f"{tool} is not installed (apt-get install ldnsutils)")

    def keygen(*flags: str) -> str:
        done = subprocess.run(
            ["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, "shop.test"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def sign() -> tuple[str, str]:
        ksk, zsk = keygen("-k"), keygen()
        unsigned = tmp_path / "shop.test.zone"
        unsigned.write_text(zone_text("shop.test", RECORDS))
        subprocess.run(
            ["ldns-signzone", "-f", str(tmp_path / "signed"), str(unsigned), zsk, ksk],
            cwd=tmp_path,
            capture_output=True,
            check=True,
        )
        # nsd.serve keeps a zone text as it is when it has " SOA " in it.
        signed = (tmp_path / "signed").read_text().replace("\t", " ")
        return signed, (tmp_path / f"{ksk}.ds").read_text().strip()

    return sign


def break_signature(signed: str, rdtype: str) -> str:
    """Change one character in the signature of the RRSIG over ``rdtype`` at the apex."""
    pattern = re.compile(rf"^shop\.test\. \d+ IN RRSIG {rdtype} .*$", re.M)
    line = pattern.search(signed)
    assert line is not None
    text = line.group(0)
    flipped = text[:-10] + ("A" if text[-10] != "A" else "B") + text[-9:]
    return signed.replace(text, flipped)


async def test_a_signed_zone_whose_parent_has_its_ds(nsd: Nsd, signer) -> None:
    signed, ds = signer()
    nsd.serve({"test": PARENT + ds.replace("shop.test.", "shop", 1), "shop.test": signed})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("ok", ["dnssec.signed"])
    assert "the parent's DS matches its key" in result.problems[0].message
    assert "ECDSAP256SHA256" in result.found[0]


async def test_a_signed_zone_alone_is_self_consistent(nsd: Nsd, signer) -> None:
    signed, _ = signer()
    nsd.serve({"shop.test": signed})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("ok", ["dnssec.signed"])
    assert "chain up to the root was not checked" in result.problems[0].message


async def test_a_name_below_the_apex_is_judged_by_its_zone(nsd: Nsd, signer) -> None:
    signed, _ = signer()
    nsd.serve({"shop.test": signed})
    result = await check_dnssec(make_client(), "mx.shop.test")
    assert (result.host, result.status) == ("shop.test", "ok")


@pytest.mark.parametrize(("rdtype", "what"), [("SOA", "the SOA record"), ("TXT", "the TXT")])
async def test_a_broken_signature_fails(nsd: Nsd, signer, rdtype: str, what: str) -> None:
    signed, _ = signer()
    nsd.serve({"shop.test": break_signature(signed, rdtype)})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("mismatch", ["dnssec.broken_signature"])
    assert what in result.problems[0].message


async def test_a_ds_matching_no_key_fails(nsd: Nsd, signer) -> None:
    signed, ds = signer()
    wrong = ds[:-4] + ("0000" if not ds.endswith("0000") else "1111")
    nsd.serve({"test": PARENT + wrong.replace("shop.test.", "shop", 1), "shop.test": signed})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("mismatch", ["dnssec.ds_mismatch"])


async def test_a_signed_zone_without_ds_at_a_reachable_parent(nsd: Nsd, signer) -> None:
    signed, _ = signer()
    nsd.serve({"test": PARENT, "shop.test": signed})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("ok", ["dnssec.no_ds"])


async def test_an_unsigned_zone_is_missing_not_failing(nsd: Nsd) -> None:
    nsd.serve({"shop.test": RECORDS})
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("missing", ["dnssec.unsigned"])


async def test_a_dns_failure_is_an_error(nsd: Nsd) -> None:
    nsd.serve({"other.test": RECORDS}, broken=["shop.test"])
    result = await check_dnssec(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("error", ["dns.servfail"])


# --- the same zones through checkdmarc --------------------------------------------------------


@pytest.mark.parametrize("case", ["valid", "broken", "no_ds", "unsigned"])
async def test_the_verdict_agrees_with_checkdmarc(nsd: Nsd, signer, case: str) -> None:
    from checkdmarc.dnssec import check_dnssec as their_check

    signed, ds = signer()
    parent = PARENT + (ds.replace("shop.test.", "shop", 1) if case != "no_ds" else "")
    child = {"valid": signed, "broken": break_signature(signed, "DNSKEY"), "no_ds": signed}
    nsd.serve({"test": parent, "shop.test": child.get(case, RECORDS)})
    ours = await check_dnssec(make_client(), "shop.test")
    theirs = their_check(
        "shop.test", nameservers=[dns.nameserver.Do53Nameserver("127.0.0.1", nsd.port)], cache={}
    )
    # checkdmarc says True only for a DS-anchored zone whose keys validate.
    assert theirs is (case == "valid")
    assert (ours.status == "ok" and "dnssec.no_ds" not in codes(ours)) is (case == "valid")
