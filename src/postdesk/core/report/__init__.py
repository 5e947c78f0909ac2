"""Reports to hand over: one self-contained HTML file, or text, or JSON, for any check."""

from __future__ import annotations

from postdesk.core.report.model import Evidence, Report, Table
from postdesk.core.report.render import (
    FORMATS,
    format_for,
    render,
    render_html,
    render_text,
    save_report,
)
from postdesk.core.report.sources import (
    from_analysis,
    from_domain_report,
    from_ip_dict,
    from_ip_report,
    from_test_result,
)

__all__ = [
    "FORMATS",
    "Evidence",
    "Report",
    "Table",
    "format_for",
    "from_analysis",
    "from_domain_report",
    "from_ip_dict",
    "from_ip_report",
    "from_test_result",
    "render",
    "render_html",
    "render_text",
    "save_report",
]
