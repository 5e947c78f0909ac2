"""Each provider's signature scheme, with keys made here: genuine requests pass; forged,
tampered, stale, unsigned and malformed ones are refused with a 4xx before anything is read."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json

import pytest

from fixtures.webhooks.signing import (
    TOPIC,
    SendGridSigner,
    SnsSigner,
    mailgun_body,
    sample,
)
from postdesk.core.webhooks import mailgun, postmark, sendgrid, sns
from postdesk.core.webhooks.events import Refused

NOW = dt.datetime.now(dt.UTC)
MID = "<order-1@example.com>"


def _refused(status: int, call, *args) -> Refused:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as caught:
        result = call(*args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    assert caught.value.status == status
    return caught.value


# --- SendGrid ---------------------------------------------------------------------------------


def _sendgrid_body() -> bytes:
    return json.dumps(sample("sendgrid_events.json", to="a@client.test", message_id=MID)).encode()


def test_sendgrid_genuine_signature_passes_and_events_are_read():
    signer, body = SendGridSigner(), _sendgrid_body()
    sendgrid.verify(body, signer.headers(body), signer.public_b64, NOW)
    kinds = [e.kind for e in sendgrid.parse(body)]
    assert kinds == ["ignored", "delivered", "opened", "complained"]


def test_sendgrid_flipped_byte_wrong_key_and_missing_headers_are_refused():
    signer, body = SendGridSigner(), _sendgrid_body()
    headers = signer.headers(body)
    tampered = body.replace(b"delivered", b"delivereD")
    _refused(403, sendgrid.verify, tampered, headers, signer.public_b64, NOW)
    _refused(403, sendgrid.verify, body, headers, SendGridSigner().public_b64, NOW)
    _refused(401, sendgrid.verify, body, {}, signer.public_b64, NOW)
    # The timestamp is part of what is signed: a new one on an old signature does not pass.
    moved = {**headers, sendgrid.TIMESTAMP_HEADER: str(int(headers[sendgrid.TIMESTAMP_HEADER]) - 1)}
    _refused(403, sendgrid.verify, body, moved, signer.public_b64, NOW)


def test_sendgrid_stale_signature_is_refused():
    signer, body = SendGridSigner(), _sendgrid_body()
    old = str(int((NOW - dt.timedelta(hours=1)).timestamp()))
    refused = _refused(
        403, sendgrid.verify, body, signer.headers(body, old), signer.public_b64, NOW
    )
    assert "old" in refused.reason


def test_sendgrid_malformed_body_is_refused_after_a_valid_signature():
    signer = SendGridSigner()
    for body in (b"not json", b'{"event": "open"}', b'[{"event": "open"}]'):
        sendgrid.verify(body, signer.headers(body), signer.public_b64, NOW)
        _refused(400, sendgrid.parse, body)


# --- Mailgun ----------------------------------------------------------------------------------

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def _mailgun_event() -> dict:
    return sample("mailgun_failed.json", to="a@client.test", message_id_bare="order-1@example.com")


def test_mailgun_genuine_signature_passes():
    payload = json.loads(mailgun_body(KEY, _mailgun_event()))
    token = mailgun.verify(payload, KEY, NOW)
    assert token == payload["signature"]["token"]
    (event,) = mailgun.parse(payload)
    assert (event.kind, event.bounce_class) == ("bounced", "hard.unknown_user")


def test_mailgun_forged_stale_and_unsigned_are_refused():
    payload = json.loads(mailgun_body("another-key", _mailgun_event()))
    _refused(403, mailgun.verify, payload, KEY, NOW)
    genuine = json.loads(mailgun_body(KEY, _mailgun_event()))
    token = genuine["signature"]["token"]
    genuine["signature"]["token"] = token[:-1] + ("1" if token.endswith("0") else "0")
    _refused(403, mailgun.verify, genuine, KEY, NOW)
    old = str(int((NOW - dt.timedelta(minutes=20)).timestamp()))
    _refused(403, mailgun.verify, json.loads(mailgun_body(KEY, _mailgun_event(), old)), KEY, NOW)
    _refused(401, mailgun.verify, {"event-data": _mailgun_event()}, KEY, NOW)
    _refused(401, mailgun.verify, [], KEY, NOW)


# --- Postmark ---------------------------------------------------------------------------------


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_postmark_needs_the_secret_path_and_the_basic_auth_pair():
    postmark.check_access("s3cret-path", "s3cret-path", _basic("hooks:pw"), "hooks:pw")
    postmark.check_access("s3cret-path", "s3cret-path", "", None)  # path only, no credentials set
    _refused(404, postmark.check_access, "guess", "s3cret-path", _basic("hooks:pw"), "hooks:pw")
    _refused(404, postmark.check_access, "", "", "", None)  # no path made yet: nothing there
    _refused(
        403, postmark.check_access, "s3cret-path", "s3cret-path", _basic("hooks:x"), "hooks:pw"
    )
    _refused(401, postmark.check_access, "s3cret-path", "s3cret-path", "", "hooks:pw")
    _refused(401, postmark.check_access, "s3cret-path", "s3cret-path", "Basic !!!", "hooks:pw")


def test_postmark_malformed_records_are_refused():
    for body in (b"[]", b"{", b'{"RecordType": "Bounce"}', b'{"MessageID": "x"}'):
        _refused(400, postmark.parse, body)


# --- Amazon SES through SNS -------------------------------------------------------------------


def _ses_event() -> dict:
    return sample("ses_bounce.json", to="a@client.test", message_id=MID, provider_id="010001")


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_genuine_signatures_pass_and_the_certificate_is_fetched_once(version):
    signer = SnsSigner()
    sns._certificates.clear()
    for _ in range(2):
        message = sns.parse_message(signer.notification(_ses_event(), version))
        asyncio.run(sns.verify(message, [TOPIC], signer.fetch, NOW))
    assert len(signer.fetched) == 1
    (event,) = sns.parse_ses(message)
    assert (event.kind, event.recipient, event.bounce_class) == (
        "bounced",
        "a@client.test",
        "hard.unknown_user",
    )


def test_sns_forged_or_foreign_messages_are_refused():
    signer = SnsSigner()
    sns._certificates.clear()
    body = signer.notification(_ses_event())
    message = sns.parse_message(body)
    tampered = {**message, "Message": message["Message"].replace("Permanent", "Transient")}
    _refused(403, sns.verify, tampered, [TOPIC], signer.fetch, NOW)
    # Another key behind the same certificate URL (the cache holds the genuine one).
    impostor = SnsSigner()
    forged = sns.parse_message(impostor.notification(_ses_event()))
    _refused(403, sns.verify, forged, [TOPIC], signer.fetch, NOW)
    _refused(
        403, sns.verify, message, ["arn:aws:sns:eu-west-1:123456789012:other"], signer.fetch, NOW
    )
    _refused(403, sns.verify, {**message, "SignatureVersion": "3"}, [TOPIC], signer.fetch, NOW)
    later = NOW + dt.timedelta(hours=2)
    _refused(403, sns.verify, message, [TOPIC], signer.fetch, later)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.test/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
    ],
)
def test_sns_certificates_come_only_from_an_sns_host(url):
    signer = SnsSigner()
    sns._certificates.clear()
    message = {**sns.parse_message(signer.notification(_ses_event())), "SigningCertURL": url}
    _refused(403, sns.verify, message, [TOPIC], signer.fetch, NOW)
    assert signer.fetched == []  # never asked for


def test_sns_subscription_is_confirmed_only_on_an_sns_host():
    signer = SnsSigner()
    sns._certificates.clear()
    message = sns.parse_message(signer.subscription())
    asyncio.run(sns.verify(message, [TOPIC], signer.fetch, NOW))
    asyncio.run(sns.confirm_subscription(message, signer.fetch))
    assert "Action=ConfirmSubscription" in signer.fetched[-1]
    evil = sns.parse_message(signer.subscription("https://evil.test/?Action=ConfirmSubscription"))
    asyncio.run(sns.verify(evil, [TOPIC], signer.fetch, NOW))  # the signature is genuine…
    _refused(403, sns.confirm_subscription, evil, signer.fetch)  # …the host is not SNS
    assert not signer.fetched[-1].startswith("https://evil.test")


def test_sns_malformed_messages_are_refused():
    for body in (b"", b"[1]", b'{"Type": "Notification"}', b'{"Type": "Other", "Message": ""}'):
        _refused(400, sns.parse_message, body)
    signer = SnsSigner()
    message = sns.parse_message(signer.notification(_ses_event()))
    _refused(400, sns.parse_ses, {**message, "Message": "not json"})
