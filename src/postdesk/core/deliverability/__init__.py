"""Deliverability: what became of the mail each domain and SMTP user sent, and the alerts.

``numbers`` counts per recipient (sent, delivered, bounced hard and soft, complaints) and per
message (opens, clicks) over 1, 7 or 30 days; ``alerts`` says when a domain's rates pass the
workspace's thresholds or a critical message failed.
"""

from postdesk.core.deliverability.alerts import (
    AlertWatcher,
    DeliverabilityAlert,
    FailedCritical,
    Thresholds,
    alerts_now,
    critical_alert,
    failed_critical,
    rate_alerts,
    thresholds,
)
from postdesk.core.deliverability.numbers import (
    PERIODS,
    DomainNumbers,
    Numbers,
    Report,
    UserNumbers,
    count,
    percent,
    report,
)

__all__ = [
    "PERIODS",
    "AlertWatcher",
    "DeliverabilityAlert",
    "DomainNumbers",
    "FailedCritical",
    "Numbers",
    "Report",
    "Thresholds",
    "UserNumbers",
    "alerts_now",
    "count",
    "critical_alert",
    "failed_critical",
    "percent",
    "rate_alerts",
    "report",
    "thresholds",
]
