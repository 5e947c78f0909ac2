"""Every provider's events come out in one shape with the right kind and bounce class: from
the SMTP reply when the provider passes one on, else from the provider's own type."""

from __future__ import annotations

import json

from fixtures.webhooks.signing import sample
from postdesk.core.webhooks import mailgun, postmark, sendgrid, sns

MID = "<order-1@example.com>"
TO = "a@client.test"


def test_sendgrid_bounces_blocks_and_deferrals_get_their_class():
    body = json.dumps(sample("sendgrid_bounce.json", to=TO, message_id=MID)).encode()
    bounce, deferred, blocked = sendgrid.parse(body)
    assert (bounce.kind, bounce.bounce_class, bounce.smtp_code) == (
        "bounced",
        "hard.unknown_user",
        550,
    )
    assert bounce.message_id_header == MID and bounce.recipient == TO
    # SendGrid's 250 reply names the part of sg_message_id before ".filter".
    assert bounce.provider_message_id == "14c5d75ce93.dfd.64b469"
    assert (deferred.kind, deferred.bounce_class) == ("deferred", "soft.rate_limited")
    assert (blocked.kind, blocked.bounce_class) == ("bounced", "hard.policy")


def test_sendgrid_dropped_and_unsubscribes():
    items = [
        {
            "email": TO,
            "timestamp": 1,
            "event": "dropped",
            "reason": "Bounced Address",
            "sg_event_id": "d1",
        },
        {"email": TO, "timestamp": 1, "event": "group_unsubscribe", "sg_event_id": "u1"},
        {"email": TO, "timestamp": 1, "event": "bounce", "sg_event_id": "b1"},
    ]
    dropped, unsubscribed, bare = sendgrid.parse(json.dumps(items).encode())
    assert dropped.kind == "suppressed" and dropped.reason == "Bounced Address"
    assert unsubscribed.kind == "unsubscribed"
    assert (bare.kind, bare.bounce_class) == ("bounced", "hard.other")  # no reply: the type


def _mailgun(**changes):  # type: ignore[no-untyped-def]
    data = sample("mailgun_failed.json", to=TO, message_id_bare="order-1@example.com")
    data.update(changes)
    return mailgun.parse({"event-data": data})[0]


def test_mailgun_severity_decides_bounce_or_deferral():
    hard = _mailgun()
    assert (hard.kind, hard.bounce_class, hard.message_id_header) == (
        "bounced",
        "hard.unknown_user",
        "order-1@example.com",
    )
    soft = _mailgun(
        severity="temporary",
        **{"delivery-status": {"code": 452, "message": "4.2.2 The email account is over quota"}},
    )
    assert (soft.kind, soft.bounce_class) == ("deferred", "soft.mailbox_full")
    plain = _mailgun(**{"delivery-status": {}})
    assert (plain.kind, plain.bounce_class) == ("bounced", "hard.other")
    assert _mailgun(reason="suppress-bounce").kind == "suppressed"
    assert _mailgun(event="complained").kind == "complained"
    assert _mailgun(event="accepted").kind == "ignored"


def test_postmark_records():
    body = json.dumps(sample("postmark_bounce.json", to=TO, provider_id="pm-1")).encode()
    (bounce,) = postmark.parse(body)
    assert (bounce.kind, bounce.bounce_class, bounce.provider_message_id) == (
        "bounced",
        "hard.unknown_user",
        "pm-1",
    )
    assert bounce.event_id == "Bounce:4323372036854775807"
    assert bounce.smtp_code == 550  # from "smtp;550 5.1.1 …"
    soft = {**json.loads(body), "Type": "SoftBounce", "Details": ""}
    (deferred,) = postmark.parse(json.dumps(soft).encode())
    assert (deferred.kind, deferred.bounce_class) == ("deferred", "soft.other")
    delivery = {
        "RecordType": "Delivery",
        "MessageID": "pm-1",
        "Recipient": TO,
        "DeliveredAt": "2026-11-29T12:00:00Z",
        "Details": "Test delivery webhook details",
    }
    (delivered,) = postmark.parse(json.dumps(delivery).encode())
    assert delivered.kind == "delivered" and delivered.event_id.startswith("Delivery:")
    change = {
        "RecordType": "SubscriptionChange",
        "MessageID": "pm-1",
        "Recipient": TO,
        "ChangedAt": "2026-11-29T12:00:00Z",
        "SuppressSending": True,
    }
    assert postmark.parse(json.dumps(change).encode())[0].kind == "unsubscribed"


def _ses(name: str) -> dict:
    event = sample(name, to=TO, message_id=MID, provider_id="0100018b")
    return {"MessageId": "sns-1", "Message": json.dumps(event)}


def test_ses_bounce_complaint_and_their_ids():
    (bounce,) = sns.parse_ses(_ses("ses_bounce.json"))
    assert bounce.provider_message_id == "0100018b" and bounce.message_id_header == MID
    assert (bounce.kind, bounce.bounce_class, bounce.smtp_code) == (
        "bounced",
        "hard.unknown_user",
        550,
    )
    (complaint,) = sns.parse_ses(_ses("ses_complaint.json"))
    assert (complaint.kind, complaint.recipient, complaint.reason) == ("complained", TO, "abuse")
    assert complaint.event_id == "sns-1:0"


def test_ses_transient_bounces_and_other_types():
    event = sample("ses_bounce.json", to=TO, message_id=MID, provider_id="0100018b")
    event["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    event["bounce"]["bouncedRecipients"][0].pop("diagnosticCode")
    (full,) = sns.parse_ses({"MessageId": "m", "Message": json.dumps(event)})
    assert (full.kind, full.bounce_class) == ("deferred", "soft.mailbox_full")
    event["bounce"].update(bounceType="Permanent", bounceSubType="OnAccountSuppressionList")
    assert sns.parse_ses({"MessageId": "m", "Message": json.dumps(event)})[0].kind == "suppressed"
    reject = {"eventType": "Reject", "reject": {"reason": "Bad content"}, "mail": event["mail"]}
    (rejected,) = sns.parse_ses({"MessageId": "m", "Message": json.dumps(reject)})
    assert (rejected.kind, rejected.recipient, rejected.bounce_class) == (
        "bounced",
        None,
        "hard.policy",
    )
    opened = {
        "eventType": "Open",
        "open": {"timestamp": "2026-11-29T12:00:00Z"},
        "mail": event["mail"],
    }
    assert sns.parse_ses({"MessageId": "m", "Message": json.dumps(opened)})[0].recipient == TO
