"""The AUTH step, one command at a time, so the transcript shows it without the secrets."""

from __future__ import annotations

from aiosmtplib import SMTP
from aiosmtplib.auth import auth_crammd5_verify, auth_login_encode, auth_plain_encode

from postdesk.core.smtptest.transcript import REDACTED, Transcript
from postdesk.core.smtptest.verdicts import Stop, auth_reply_category

#: The login methods Postdesk uses, best first.
MECHANISMS = ("plain", "login", "cram-md5")


async def log_in(
    smtp: SMTP, transcript: Transcript, username: str, password: str, security: str
) -> None:
    """Log in with the best method the server offers; raise Stop with the verdict on failure."""
    offered = smtp.server_auth_methods
    mechanism = next((m for m in MECHANISMS if m in offered), None)
    if not smtp.supports_extension("auth") or mechanism is None:
        what = ", ".join(m.upper() for m in offered) if offered else "no login at all"
        transcript.info(f"The server offers {what} at this point.")
        raise Stop("auth_unavailable", detail="no usable login method")
    if security == "none":
        transcript.info(
            "Warning: the connection is not encrypted, so the password can be read by anyone "
            "on the network path."
        )
    transcript.info(f"Logging in as {username} with {mechanism.upper()}")

    if mechanism == "plain":
        transcript.client(f"AUTH PLAIN {REDACTED}")
        response = await smtp.execute_command(
            b"AUTH", b"PLAIN", auth_plain_encode(username, password)
        )
    elif mechanism == "login":
        encoded_user, encoded_password = auth_login_encode(username, password)
        transcript.client(f"AUTH LOGIN {REDACTED}")
        response = await smtp.execute_command(b"AUTH", b"LOGIN", encoded_user)
        if response.code == 334:
            transcript.server(response.code, response.message)
            transcript.client(REDACTED)
            response = await smtp.execute_command(encoded_password)
    else:
        transcript.client("AUTH CRAM-MD5")
        response = await smtp.execute_command(b"AUTH", b"CRAM-MD5")
        if response.code == 334:
            transcript.server(response.code, response.message)
            transcript.client(REDACTED)
            answer = auth_crammd5_verify(username, password, response.message)
            response = await smtp.execute_command(answer)

    transcript.server(response.code, response.message)
    if response.code != 235:
        category = auth_reply_category(response.code, response.message)
        raise Stop(category, code=response.code, text=response.message)
    transcript.info("Logged in.")
