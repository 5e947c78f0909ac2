"""The steps every record check shares: a fresh result, and finding the one published record."""

from __future__ import annotations

from collections.abc import Callable

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.messages_newer import newer_problem
from postdesk.core.dnscheck.resolver import Answer
from postdesk.core.records import ExpectedRecord, Problem, RecordKind, RecordResult


def new_result(
    kind: RecordKind, rtype: str, host: str, expected: ExpectedRecord | None
) -> RecordResult:
    """A result that is ``ok`` until a problem says otherwise."""
    return RecordResult(
        kind,
        rtype,
        host,
        expected.value if expected else "",
        "ok",
        required=expected.required if expected else True,
    )


def not_checked(kind: RecordKind, rtype: str, host: str, why: Problem) -> RecordResult:
    """An optional check that could not be made (skipped, or its servers out of reach)."""
    result = new_result(kind, rtype, host, None)
    result.required, result.status, result.problems = False, "error", [why]
    return result


def mx_tls_skipped(domain: str) -> RecordResult:
    """The STARTTLS check of the MX hosts, skipped on request (``--no-mx-tls``)."""
    why = newer_problem("mxtls.skipped", domain=domain)
    return not_checked("mx_tls", "STARTTLS", domain, why)


def the_one_record(
    result: RecordResult,
    answer: Answer,
    keep: Callable[[str], bool],
    *,
    missing: Problem,
    multiple: str,
    **fields: object,
) -> str | None:
    """The single published record ``keep`` accepts.

    Otherwise the result is decided here — ``error`` when DNS could not be asked (never
    ``missing``), ``missing`` with the ``missing`` problem, ``conflict`` with the ``multiple``
    problem — and None is returned.
    """
    if answer.failed:
        result.status, result.problems = "error", [dns_problem(answer, result.host)]
        return None
    records = [value for value in answer.values if keep(value)]
    result.found = records
    if not records:
        result.status = "missing"
        result.problems.append(missing)
        return None
    if len(records) > 1:
        result.status = "conflict"
        result.problems.append(problem(multiple, count=len(records), **fields))
        return None
    return records[0]
