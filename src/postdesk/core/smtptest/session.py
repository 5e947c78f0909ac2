"""The test itself: one SMTP conversation, step by step, every step in the transcript."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from email.message import EmailMessage
from typing import Any

from aiosmtplib import (
    SMTP,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPHeloError,
    SMTPReadTimeoutError,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from postdesk.core.errors import UserError
from postdesk.core.smtptest import tlsinfo
from postdesk.core.smtptest.auth import log_in
from postdesk.core.smtptest.connect import default_ehlo_name, open_socket
from postdesk.core.smtptest.endpoint import MessageSigner, SmtpEndpoint, TestResult
from postdesk.core.smtptest.message import envelope
from postdesk.core.smtptest.sending import send_message
from postdesk.core.smtptest.transcript import Transcript, TranscriptLine
from postdesk.core.smtptest.verdicts import CATEGORIES, Situation, Stop, advice, reply_category

_SECURITY_LABELS = {"starttls": "STARTTLS", "tls": "TLS", "none": "none (unencrypted)"}


class _CertificateRejected(Exception):
    """The certificate did not pass verification; the test reconnects to read it."""

    def __init__(self, error: ssl.SSLCertVerificationError) -> None:
        super().__init__(str(error))
        self.error = error


async def run_test(
    endpoint: SmtpEndpoint,
    message: EmailMessage | None = None,
    *,
    on_line: Callable[[TranscriptLine], None] | None = None,
    ehlo_name: str | None = None,
    signer: MessageSigner | None = None,
) -> TestResult:
    """Test an SMTP service: send ``message``, or with ``message=None`` only connect and log in.

    Network outcomes are returned as a verdict; bad input raises UserError before connecting.
    ``on_line`` receives each transcript line as it happens. Cancelling closes the connection.
    ``signer`` signs the message as it goes on the wire, the way the relay signs real mail.
    """
    if message is not None:
        envelope(message)  # a message without sender or recipient is an input error
    if ehlo_name is not None and (not ehlo_name.strip() or any(c.isspace() for c in ehlo_name)):
        raise UserError(
            "smtp.invalid_ehlo_name", "The EHLO name must be one word, like mail.example.com."
        )
    transcript = Transcript(on_line, secrets=[endpoint.password])
    session = _Session(endpoint, message, transcript, ehlo_name)
    session.signer = signer
    return await _cancellable(session.run())


async def _cancellable(session: Coroutine[Any, Any, TestResult]) -> TestResult:
    """Run the session so that cancelling the caller always stops it.

    On Python 3.11, ``asyncio.wait_for`` (used inside aiosmtplib) swallows a cancellation that
    arrives just as the awaited step finishes; the test would then run on until its timeout.
    So the session runs as its own task and is cancelled again until it has really stopped.
    """
    task = asyncio.ensure_future(session)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.05)
        raise


class _Session:
    def __init__(
        self,
        endpoint: SmtpEndpoint,
        message: EmailMessage | None,
        transcript: Transcript,
        ehlo_name: str | None,
    ) -> None:
        self.endpoint = endpoint
        self.message = message
        self.t = transcript
        self.ehlo_name = ehlo_name
        self.stage = "connect"
        self.timings: dict[str, int] = {}
        self.tls: dict[str, object] | None = None
        self.smtp: SMTP | None = None
        self.sock: socket.socket | None = None
        self.message_sent = False
        self.signer: MessageSigner | None = None
        self.rejection: tuple[str, str] | None = None  # (category, reason) of a failed cert check

    # --- the whole test ---------------------------------------------------------------------

    async def run(self) -> TestResult:
        ep = self.endpoint
        kind = "Test send" if self.message is not None else "Connection test (no message is sent)"
        self.t.info(f"{kind}: {ep.host} port {ep.port}, security {_SECURITY_LABELS[ep.security]}")
        try:
            try:
                await self._attempt(verify=True)
            except _CertificateRejected as rejected:
                self._close()
                await self._attempt_after_rejection(rejected.error)
        except Stop as stop:
            return self._result(stop)
        except asyncio.CancelledError:
            self.t.info("Test cancelled; the connection is closed.")
            raise
        finally:
            self._close()
        return self._result(None)

    async def _attempt_after_rejection(self, error: ssl.SSLCertVerificationError) -> None:
        category = tlsinfo.certificate_category(error)
        reason = tlsinfo.describe_verify_error(error)
        self.rejection = (category, reason)
        self.t.info(f"Certificate check failed: {reason}.")
        purpose = (
            "to compare it with the pinned fingerprint"
            if self.endpoint.pinned_sha256
            else "for this report; nothing is sent over that connection"
        )
        self.t.info(f"Reconnecting without checking the certificate, only to read it {purpose}.")
        try:
            await self._attempt(verify=False)
        except Stop as stop:
            if self.tls is None:
                # The second connection failed before showing its certificate: report the first
                # failure, which is the real problem.
                self.t.info(f"The certificate could not be read: {stop.detail or stop.category}.")
                self.stage = "tls"
                raise Stop(category, detail=reason) from None
            raise

    async def _attempt(self, verify: bool) -> None:
        try:
            await self._converse(verify)
        except SMTPTimeoutError as error:
            self.t.info(f"The server stopped answering (nothing for {self.endpoint.timeout:g} s).")
            raise Stop("no_reply", detail="the server stopped answering") from error
        except SMTPServerDisconnected as error:
            self.t.info("The server closed the connection.")
            raise Stop("disconnected", detail="the server closed the connection") from error
        except SMTPResponseException as error:
            # Includes garbage instead of an SMTP reply (code -1).
            code = error.code if error.code > 0 else None
            self.t.info(f"Unexpected answer from the server: {error.message}")
            raise Stop("unexpected_reply", code=code, text=error.message) from error
        except (ConnectionError, ssl.SSLError) as error:
            self.t.info(f"The connection broke: {error}")
            raise Stop("disconnected", detail="the connection broke") from error

    async def _converse(self, verify: bool) -> None:
        ep = self.endpoint
        context = None
        if ep.security != "none":
            # Loading the system's trusted authorities reads files: keep it off the event loop.
            context = await asyncio.to_thread(tlsinfo.make_context, verify, ep.cafile)
        self.stage = "connect"
        self.sock = await open_socket(ep, self.t, self.timings)
        ehlo_name = self.ehlo_name or default_ehlo_name(self.sock)
        implicit = ep.security == "tls"
        self.smtp = SMTP(
            hostname=ep.host,
            use_tls=implicit,
            start_tls=False,  # never "if offered": the security setting decides
            validate_certs=verify,
            tls_context=context if implicit else None,
            timeout=ep.timeout,
            local_hostname=ehlo_name,
        )
        await self._greeting(implicit, verify)
        await self._ehlo(ehlo_name)
        if ep.security == "starttls":
            assert context is not None
            await self._starttls(context, verify)
            await self._ehlo(ehlo_name)
        elif ep.security == "none" and self._smtp.supports_extension("starttls"):
            self.t.info(
                "The server offers STARTTLS, but the security setting is “none”, so the "
                "connection stays unencrypted."
            )
        await self._auth()
        if self.message is not None:
            await self._send(self.message)
        await self._quit()

    @property
    def _smtp(self) -> SMTP:
        assert self.smtp is not None
        return self.smtp

    def _lap(self, key: str, started: float) -> int:
        self.timings[key] = int((time.monotonic() - started) * 1000)
        return self.timings[key]

    # --- greeting and EHLO ------------------------------------------------------------------

    async def _greeting(self, implicit: bool, verify: bool) -> None:
        t, timeout = self.t, self.endpoint.timeout
        self.stage = "tls" if implicit else "banner"
        t.info("Starting TLS right away (implicit TLS)" if implicit else "Waiting for the greeting")
        started = time.monotonic()
        sock, self.sock = self.sock, None  # from here on the connection owns and closes it
        try:
            banner = await self._smtp.connect(sock=sock, port=None)
        except SMTPConnectTimeoutError as error:
            if implicit and not isinstance(error.__cause__, SMTPReadTimeoutError):
                t.info(f"No answer to the TLS handshake within {timeout:g} seconds.")
                raise Stop("banner_timeout", detail="no answer to the TLS handshake") from error
            self.stage = "banner"
            t.info(f"No greeting within {timeout:g} seconds.")
            raise Stop("banner_timeout", detail="no greeting") from error
        except SMTPConnectResponseError as error:
            self.stage = "banner"
            t.server(error.code, error.message)
            category = reply_category(error.code, "refused")
            raise Stop(category, code=error.code, text=error.message) from error
        except SMTPConnectError as error:
            cause = error.__cause__
            if isinstance(cause, SMTPServerDisconnected) or not implicit:
                self.stage = "banner"
                t.info("The server closed the connection without a greeting.")
                raise Stop("disconnected", detail="closed before the greeting") from error
            self._handshake_failed(cause or error, verify)
        if implicit:
            self._lap("tls_ms", started)  # with implicit TLS this includes the greeting
            self._after_handshake(verify)
        else:
            self._lap("banner_ms", started)
        t.server(banner.code, banner.message)

    async def _ehlo(self, name: str) -> None:
        self.stage = "ehlo"
        self.t.client(f"EHLO {name}")
        try:
            response = await self._smtp.ehlo(hostname=name)
        except SMTPHeloError as error:
            self.t.server(error.code, error.message)
            category = reply_category(error.code, "unexpected_reply")
            raise Stop(category, code=error.code, text=error.message) from error
        self.t.server(response.code, response.message)
        offers = [line.strip() for line in response.message.split("\n")[1:] if line.strip()]
        self.t.info("The server offers: " + (", ".join(offers) if offers else "no extensions"))

    # --- TLS --------------------------------------------------------------------------------

    async def _starttls(self, context: ssl.SSLContext, verify: bool) -> None:
        self.stage = "starttls"
        if not self._smtp.supports_extension("starttls"):
            self.t.info("The server does not list STARTTLS among its extensions.")
            raise Stop("starttls_unavailable")
        self.t.client("STARTTLS")
        started = time.monotonic()
        try:
            response = await self._smtp.starttls(
                tls_context=context, server_hostname=self.endpoint.host
            )
        except SMTPReadTimeoutError:
            raise  # no answer to the command itself
        except SMTPServerDisconnected as error:
            if "upgrading" not in str(error):
                raise  # closed before answering the command
            self.t.info("The server agreed to STARTTLS.")
            self._handshake_failed(error, verify)
        except SMTPResponseException as error:
            self.t.server(error.code, error.message)
            category = reply_category(error.code, "starttls_unavailable")
            raise Stop(category, code=error.code, text=error.message) from error
        except (ssl.SSLError, SMTPTimeoutError, ConnectionError) as error:
            self.t.info("The server agreed to STARTTLS.")
            self._handshake_failed(error, verify)
        self.t.server(response.code, response.message)
        self._lap("tls_ms", started)
        self._after_handshake(verify)

    def _handshake_failed(self, error: BaseException, verify: bool) -> None:
        self.stage = "tls"
        if isinstance(error, ssl.SSLCertVerificationError) and verify:
            raise _CertificateRejected(error)
        timed_out = isinstance(error, TimeoutError | ConnectionAbortedError | SMTPTimeoutError)
        if timed_out:
            self.t.info("The server did not complete the TLS handshake in time.")
            # A silent port with implicit TLS looks like a missing greeting; after STARTTLS was
            # agreed it is a broken handshake.
            category = "banner_timeout" if self.endpoint.security == "tls" else "tls_handshake"
            raise Stop(category, detail="no answer to the TLS handshake") from error
        reason = tlsinfo.describe_handshake_error(error)
        self.t.info(f"TLS handshake failed: {reason}.")
        category = tlsinfo.handshake_category(error)
        if self.endpoint.security != "tls":
            # After an agreed STARTTLS the mode is right; the server's TLS itself is broken.
            category = "tls_handshake"
        raise Stop(category, detail=reason) from error

    def _after_handshake(self, verify: bool) -> None:
        t, pin = self.t, self.endpoint.pinned_sha256
        self.stage = "tls"
        ssl_object = self._smtp.get_transport_info("ssl_object")
        details = tlsinfo.session_details(ssl_object, self.endpoint.host, verified=verify)
        self.tls = details
        t.info(f"TLS established: {details['protocol']}, cipher {details['cipher']}")
        names = ", ".join(details.get("names") or []) or "none"
        t.info(
            f"Certificate: {details.get('subject')}; issued by {details.get('issuer')}; "
            f"names: {names}; valid until {str(details.get('not_after'))[:10]}"
        )
        t.info(f"Certificate SHA-256 fingerprint: {details.get('sha256')}")
        if verify:
            t.info("The certificate is trusted and matches the host name.")
            if pin and pin != details.get("sha256"):
                t.info("The pinned fingerprint differs, but the certificate is trusted anyway.")
            return
        category, reason = self.rejection or ("cert_untrusted", "not verified")
        details["problem"] = reason
        if pin and pin == details.get("sha256"):
            details["pinned"] = True
            t.info(f"Accepted only because it matches the pinned fingerprint ({reason}).")
            return
        if pin:
            t.info(f"It does not match the pinned fingerprint {pin}.")
        t.info("Stopping: Postdesk does not log in or send over a connection it cannot trust.")
        raise Stop(category, detail=reason)

    # --- login and sending ------------------------------------------------------------------

    async def _auth(self) -> None:
        ep = self.endpoint
        if not ep.username:
            self.t.info("No username is set, so Postdesk does not log in.")
            return
        self.stage = "auth"
        started = time.monotonic()
        await log_in(self._smtp, self.t, ep.username, ep.password or "", ep.security)
        self._lap("auth_ms", started)

    async def _send(self, message: EmailMessage) -> None:
        started = time.monotonic()
        await send_message(self._smtp, self.t, message, self._step, signer=self.signer)
        self._lap("send_ms", started)
        self.message_sent = True

    def _step(self, stage: str) -> None:
        self.stage = stage

    async def _quit(self) -> None:
        self.stage = "quit"
        self.t.client("QUIT")
        try:
            response = await self._smtp.quit()
        except (SMTPServerDisconnected, SMTPResponseException, SMTPTimeoutError, OSError):
            # Everything that matters has already been accepted.
            self.t.info("The server did not answer QUIT properly; this does not change the result.")
        else:
            self.t.server(response.code, response.message)
        self.stage = "done"

    # --- the end ----------------------------------------------------------------------------

    def _close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _result(self, stop: Stop | None) -> TestResult:
        ep = self.endpoint
        self.timings["total_ms"] = self.t.elapsed_ms()
        category = stop.category if stop else "ok"
        situation = Situation(
            host=ep.host,
            port=ep.port,
            security=ep.security,
            stage=self.stage,
            reply_code=stop.code if stop else None,
            reply_text=stop.text if stop else None,
            detail=stop.detail if stop else None,
            message_sent=self.message_sent,
            tls=self.tls,
        )
        self.t.info(f"Result: {CATEGORIES[category]}.")
        return TestResult(
            ok=stop is None,
            category=category,
            advice=advice(category, situation),
            stage="done" if stop is None else self.stage,
            transcript=list(self.t.lines),
            tls=self.tls,
            timings=dict(self.timings),
            reply_code=situation.reply_code,
            reply_text=situation.reply_text,
        )
