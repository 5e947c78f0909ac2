"""DMARC aggregate reports: read (XML, gzip or zip; RFC 7489 and RFC 9990), store, summarise.

Receivers send a daily report to the address in the domain's ``rua`` tag: which IPs sent mail
claiming the domain, how many messages, and whether SPF and DKIM passed and aligned. Read
together they answer "who sends as this domain?" — the shop's own provider, a forgotten CRM, or
someone forging it.

Reports come from strangers, so reading is defensive: the XML parser refuses entities and DTDs
(defusedxml), compressed data is inflated with a hard cap (a zip or gzip bomb stops at the cap),
and anything that is not a report is refused with one line saying what was wrong.
"""

from postdesk.core.dmarcreports.read import (
    MAX_INPUT,
    MAX_ROWS,
    MAX_XML,
    AggregateReport,
    ReportRow,
    parse_report,
    report_files,
    reports_in_message,
)
from postdesk.core.dmarcreports.summary import (
    DailyRow,
    ImportResult,
    SourceSummary,
    WhoSends,
    import_files,
    import_report_message,
    resolve_sources,
    store_report,
    who_sends,
)

__all__ = [
    "MAX_INPUT",
    "MAX_ROWS",
    "MAX_XML",
    "AggregateReport",
    "DailyRow",
    "ImportResult",
    "ReportRow",
    "SourceSummary",
    "WhoSends",
    "import_files",
    "import_report_message",
    "parse_report",
    "report_files",
    "reports_in_message",
    "resolve_sources",
    "store_report",
    "who_sends",
]
