"""Verdict categories of a test send and the plain-language advice for each."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: Every category a test can end in, with a one-line meaning. The codes are stable.
CATEGORIES: dict[str, str] = {
    "ok": "Everything worked",
    "dns": "The server name does not exist",
    "refused": "The server refused the connection",
    "connect_timeout": "The server could not be reached in time",
    "banner_timeout": "The server never answered",
    "tls_mode_mismatch": "The security setting does not fit the port",
    "starttls_unavailable": "The server does not offer STARTTLS",
    "tls_handshake": "The secure connection could not be set up",
    "cert_untrusted": "The certificate is not trusted",
    "cert_hostname": "The certificate is for another name",
    "cert_expired": "The certificate has expired",
    "auth_unavailable": "The server offers no login",
    "auth_failed": "The username or password was rejected",
    "auth_app_password": "The account needs an app password",
    "sender_refused": "The sender address was refused",
    "recipient_refused": "The recipient was refused",
    "data_refused": "The message was refused",
    "temporary": "The server asked to try again later",
    "disconnected": "The server closed the connection",
    "no_reply": "The server stopped answering",
    "relay_stopped": "The built-in relay is not running",
    "unexpected_reply": "The server gave an unexpected answer",
}

_APP_PASSWORD = re.compile(
    r"\b5\.7\.(9|14)\b|app(lication)?[- ]specific password|app password", re.IGNORECASE
)


@dataclass
class Situation:
    """What advice needs to know about how the test ended."""

    host: str
    port: int
    security: str
    stage: str
    reply_code: int | None = None
    reply_text: str | None = None
    detail: str | None = None
    message_sent: bool = False
    tls: dict[str, Any] | None = field(default=None)

    @property
    def reply(self) -> str:
        """The server's reply as one line, for quoting in advice."""
        if self.reply_code is None:
            return ""
        text = " ".join((self.reply_text or "").split())
        return f"{self.reply_code} {text}".strip()


class Stop(Exception):
    """The test ends here, with this verdict."""

    def __init__(
        self, category: str, *, code: int | None = None, text: str | None = None, detail: str = ""
    ) -> None:
        super().__init__(category)
        self.category = category
        self.code = code
        self.text = text
        self.detail = detail


def reply_category(code: int, refused: str) -> str:
    """Any 4xx reply is temporary; a 5xx reply (or anything else) is the step's own refusal."""
    return "temporary" if 400 <= code < 500 else refused


def auth_reply_category(code: int, text: str) -> str:
    """The category of a failed AUTH reply."""
    if 400 <= code < 500:
        return "temporary"
    if code == 534 and _APP_PASSWORD.search(text or ""):
        return "auth_app_password"
    if code in (504, 538):
        # 504: mechanism not supported; 538: login needs encryption first.
        return "auth_unavailable"
    return "auth_failed"


def _quoted(situation: Situation) -> str:
    return f" The server said: “{situation.reply}”." if situation.reply else ""


def _ok(s: Situation) -> str:
    if s.message_sent:
        return "Everything works: the server accepted the connection, login and test message."
    return "Everything works: the connection, the security setting and the login are accepted."


def _refused(s: Situation) -> str:
    if s.stage == "banner":
        return (
            "The server answered but refused to talk to this computer."
            f"{_quoted(s)} Your network or IP address may be blocked; ask the provider."
        )
    return (
        f"Nothing is accepting connections on {s.host} port {s.port}. Check the port number "
        "(587 for STARTTLS, 465 for TLS) and that the server name is right."
    )


def _connect_timeout(s: Situation) -> str:
    text = (
        f"Postdesk could not reach {s.host} on port {s.port} in time. A firewall on this computer "
        "or network may be blocking it, or the server may be down."
    )
    if s.port == 25:
        text += (
            " Most internet providers block port 25 for homes and offices: use port 587 "
            "(STARTTLS) or 465 (TLS) instead."
        )
    return text


def _banner_timeout(s: Situation) -> str:
    if s.security == "tls":
        return (
            "The server accepted the connection but never answered the secure handshake. Check "
            "the port and security setting: 465 normally uses TLS, 587 uses STARTTLS."
        )
    return (
        "The server accepted the connection but never greeted Postdesk. This is typical of a "
        "port that expects encryption from the first moment (like 465): choose the security "
        "setting “TLS”."
    )


def _tls_mode_mismatch(s: Situation) -> str:
    return (
        f"The server on port {s.port} does not start with encryption; it sends a plain greeting "
        "first. Choose the security setting “STARTTLS” (usually port 587), or use the port the "
        "provider lists for TLS (usually 465)."
    )


def _starttls_unavailable(s: Situation) -> str:
    return (
        "The server does not offer STARTTLS, so the connection cannot be encrypted this way."
        f"{_quoted(s)} Check the port: if the provider lists port 465, choose “TLS”. Postdesk "
        "does not fall back to an unencrypted connection."
    )


def _tls_handshake(s: Situation) -> str:
    detail = f" ({s.detail})" if s.detail else ""
    return (
        f"The secure connection could not be set up{detail}. The server may use settings this "
        "computer does not accept (for example an outdated TLS version); ask the provider for "
        "its current SMTP settings."
    )


def _cert_untrusted(s: Situation) -> str:
    fingerprint = (s.tls or {}).get("sha256")
    pin = f" ({fingerprint})" if fingerprint else ""
    return (
        "The server's certificate is not signed by an authority this computer trusts (it may "
        "be self-signed). If this is your own server and you are sure it is the right one, "
        f"trust this one certificate by its fingerprint{pin}: 'Trust this certificate' in the "
        "test details, or 'postdesk service pin'. Otherwise do not send through it."
    )


def _cert_hostname(s: Situation) -> str:
    names = ", ".join((s.tls or {}).get("names") or []) or "another name"
    return (
        f"The server's certificate is for {names}, not for {s.host}. Use the SMTP host name "
        "exactly as the provider lists it."
    )


def _cert_expired(s: Situation) -> str:
    tls = s.tls or {}
    if tls.get("not_yet_valid"):
        return (
            f"The server's certificate is only valid from {str(tls.get('not_before'))[:10]}. "
            "Check that this computer's date and time are correct."
        )
    date = str(tls.get("not_after") or "")[:10]
    when = f" on {date}" if date else ""
    return (
        f"The server's certificate expired{when}. The provider has to renew it; until then, "
        "do not send through this server. Also check this computer's date and time."
    )


def _auth_unavailable(s: Situation) -> str:
    if s.security == "none":
        return (
            "The server does not offer a login on an unencrypted connection. Most servers only "
            "allow it after STARTTLS: choose “STARTTLS” (port 587) or “TLS” (port 465)."
            f"{_quoted(s)}"
        )
    return (
        "The server does not offer a login method Postdesk can use (PLAIN or LOGIN)."
        f"{_quoted(s)} If this server needs no login, leave the username empty; otherwise check "
        "the host and port with the provider."
    )


def _auth_failed(s: Situation) -> str:
    return (
        f"The server rejected the username or password.{_quoted(s)} Check both in the provider's "
        "dashboard; many providers use an API key as the password."
    )


def _auth_app_password(s: Situation) -> str:
    return (
        "This account does not accept its normal password here: it needs an app password. "
        "Create one in the account's security settings (two-step verification must be on) "
        "and enter it as the password."
    )


def _sender_refused(s: Situation) -> str:
    if s.reply_code == 530:
        return (
            f"The server wants a login before it accepts mail.{_quoted(s)} Enter the username "
            "and password for this service."
        )
    return (
        f"The server refused the sender address.{_quoted(s)} Send from an address on a domain "
        "this provider has verified for your account."
    )


def _recipient_refused(s: Situation) -> str:
    return (
        f"The server refused the recipient.{_quoted(s)} “Relay denied” usually means the server "
        "does not know you: log in with the service's username and password, and send from a "
        "domain verified with this provider."
    )


def _data_refused(s: Situation) -> str:
    return (
        f"The server refused the message itself.{_quoted(s)} This is usually a policy check "
        "(DMARC, SPF or DKIM) on the sender's domain: check that domain's DNS records."
    )


def _temporary(s: Situation) -> str:
    return (
        f"The server asked to try again later.{_quoted(s)} This is not a problem with your "
        "settings: wait a few minutes and run the test again."
    )


def _disconnected(s: Situation) -> str:
    how = f" ({s.detail})" if s.detail else ""
    return (
        f"The server ended the conversation unexpectedly at the {s.stage} step{how}. Try again; "
        "if it keeps happening, the server may be limiting connections from your address."
    )


def _no_reply(s: Situation) -> str:
    return (
        f"The server stopped answering at the {s.stage} step: the connection stayed open but "
        "no reply came. The server may be overloaded, or a firewall or antivirus on the way may "
        "be holding the connection. Try again later; if it keeps happening at the same step, "
        "send this report to the provider's support."
    )


def _relay_stopped(s: Situation) -> str:
    return (
        f"Postdesk's built-in relay is not running (nothing answers on {s.host} port {s.port}), "
        "so SMTP users cannot send. Start it — the relay button in the status bar, or "
        "`postdesk relay` on a server — and try again."
    )


def _unexpected_reply(s: Situation) -> str:
    return (
        f"The server gave an answer Postdesk did not expect at the {s.stage} step.{_quoted(s)} "
        "Copy this report and send it to the provider's support."
    )


_ADVICE = {
    "ok": _ok,
    "dns": lambda s: (
        f"The server name “{s.host}” does not exist. Check the spelling of the SMTP host in "
        "the provider's setup guide."
    ),
    "refused": _refused,
    "connect_timeout": _connect_timeout,
    "banner_timeout": _banner_timeout,
    "tls_mode_mismatch": _tls_mode_mismatch,
    "starttls_unavailable": _starttls_unavailable,
    "tls_handshake": _tls_handshake,
    "cert_untrusted": _cert_untrusted,
    "cert_hostname": _cert_hostname,
    "cert_expired": _cert_expired,
    "auth_unavailable": _auth_unavailable,
    "auth_failed": _auth_failed,
    "auth_app_password": _auth_app_password,
    "sender_refused": _sender_refused,
    "recipient_refused": _recipient_refused,
    "data_refused": _data_refused,
    "temporary": _temporary,
    "disconnected": _disconnected,
    "no_reply": _no_reply,
    "relay_stopped": _relay_stopped,
    "unexpected_reply": _unexpected_reply,
}


def advice(category: str, situation: Situation) -> str:
    """Plain-language advice for a verdict: what happened and what to do."""
    return str(_ADVICE[category](situation))
