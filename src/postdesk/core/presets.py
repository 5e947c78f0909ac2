"""Upstream SMTP providers Postdesk knows, with their published settings.

Values come from each provider's own SMTP documentation. ``spf_include`` is what the provider asks
you to put in your domain's SPF record.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """How to connect to one provider, and what it asks of your DNS."""

    key: str
    label: str
    host: str
    port: int
    security: str
    username_hint: str
    password_label: str
    spf_include: str | None
    fixed_username: str | None = None
    note: str = ""

    def host_for(self, region: str | None = None) -> str:
        """The host name, with the region filled in for providers that have regions."""
        return self.host.format(region=region or SES_DEFAULT_REGION)


# How each security choice is named on screen (in a module light enough for the window's start).
SECURITY_LABELS = {"starttls": "STARTTLS", "tls": "TLS (implicit)", "none": "None (plain text)"}
SES_DEFAULT_REGION = "us-east-1"
SES_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
    "me-south-1",
    "af-south-1",
    "il-central-1",
)

PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            "sendgrid",
            "SendGrid",
            "smtp.sendgrid.net",
            587,
            "starttls",
            "apikey",
            "API key",
            "sendgrid.net",
            fixed_username="apikey",
            note="The username is the word 'apikey'; the password is an API key with Mail Send "
            "permission.",
        ),
        Preset(
            "mailgun",
            "Mailgun",
            "smtp.mailgun.org",
            587,
            "starttls",
            "postmaster@your-domain",
            "SMTP password",
            "mailgun.org",
            note="Use smtp.eu.mailgun.org for domains in Mailgun's EU region.",
        ),
        Preset(
            "postmark",
            "Postmark",
            "smtp.postmarkapp.com",
            587,
            "starttls",
            "Server API token",
            "Server API token",
            "spf.mtasv.net",
            note="Postmark uses the same Server API token as username and password.",
        ),
        Preset(
            "ses",
            "Amazon SES",
            "email-smtp.{region}.amazonaws.com",
            587,
            "starttls",
            "SMTP username (from SES → SMTP settings)",
            "SMTP password",
            "amazonses.com",
            note="SMTP credentials are not your AWS access keys: create them under SES → SMTP "
            "settings.",
        ),
        Preset(
            "microsoft365",
            "Microsoft 365",
            "smtp.office365.com",
            587,
            "starttls",
            "you@your-domain",
            "Password or app password",
            "spf.protection.outlook.com",
            note="SMTP AUTH must be enabled for the mailbox in the Microsoft 365 admin center.",
        ),
        Preset(
            "google",
            "Google Workspace",
            "smtp.gmail.com",
            587,
            "starttls",
            "you@your-domain",
            "App password",
            "_spf.google.com",
            note="With 2-Step Verification on, Google needs an app password, not your normal one.",
        ),
        Preset(
            "custom",
            "Custom",
            "",
            587,
            "starttls",
            "Username",
            "Password",
            None,
            note="Any SMTP server: fill in its host, port and security.",
        ),
    )
}


def preset(key: str) -> Preset:
    """The preset with this key; raises KeyError with the known keys."""
    try:
        return PRESETS[key]
    except KeyError:
        raise KeyError(f"unknown preset {key!r}; known: {', '.join(PRESETS)}") from None
