"""The sending steps of a test send: MAIL FROM, RCPT TO and DATA."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

from aiosmtplib import (
    SMTP,
    SMTPDataError,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
)

from postdesk.core.smtptest.endpoint import MessageSigner
from postdesk.core.smtptest.message import envelope, summarize, wire_bytes
from postdesk.core.smtptest.transcript import Transcript
from postdesk.core.smtptest.verdicts import Stop, reply_category


def _refused(transcript: Transcript, error: SMTPResponseException, category: str) -> Stop:
    transcript.server(error.code, error.message)
    return Stop(reply_category(error.code, category), code=error.code, text=error.message)


async def send_message(
    smtp: SMTP,
    transcript: Transcript,
    message: EmailMessage,
    step: Callable[[str], None],
    *,
    signer: MessageSigner | None = None,
) -> None:
    """Hand the message to the server; ``step`` is told each stage as it starts.

    Raises Stop with sender_refused, recipient_refused, data_refused or temporary.
    """
    t = transcript
    sender, recipients = envelope(message)
    utf8 = not all(address.isascii() for address in [sender, *recipients])
    options = ["SMTPUTF8"] if utf8 else []
    encoding = "utf-8" if utf8 else "ascii"
    step("mail")
    if utf8 and not smtp.supports_extension("smtputf8"):
        t.info("The server does not accept international (non-ASCII) email addresses.")
        raise Stop("sender_refused", detail="international addresses are not supported")
    t.client(" ".join([f"MAIL FROM:<{sender}>", *options]))
    try:
        response = await smtp.mail(sender, options=options, encoding=encoding)
    except SMTPSenderRefused as error:
        raise _refused(t, error, "sender_refused") from error
    t.server(response.code, response.message)

    step("rcpt")
    for recipient in recipients:
        t.client(f"RCPT TO:<{recipient}>")
        try:
            response = await smtp.rcpt(recipient, encoding=encoding)
        except SMTPRecipientRefused as error:
            raise _refused(t, error, "recipient_refused") from error
        t.server(response.code, response.message)

    step("data")
    data = wire_bytes(message, utf8=utf8)
    if signer is not None:
        data = signer.sign(data)
        t.info(f"Signed the message ({signer.label}), as the relay signs real mail.")
    t.client(summarize(message, len(data)))  # never the body itself
    try:
        response = await smtp.data(data)
    except SMTPDataError as error:
        raise _refused(t, error, "data_refused") from error
    t.server(response.code, response.message)
    t.info("The server accepted the message.")
