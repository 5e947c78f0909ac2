"""Bounce classification: real provider refusals and real-shaped delivery status notifications."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk.core.bounces import BounceClass, classify_reply, enhanced_status, parse_dsn

DSN = Path(__file__).resolve().parents[1] / "fixtures" / "dsn"

U, D, P, H = (
    BounceClass.UNKNOWN_USER,
    BounceClass.UNKNOWN_DOMAIN,
    BounceClass.POLICY,
    BounceClass.HARD_OTHER,
)
F, G, R, C, S = (
    BounceClass.MAILBOX_FULL,
    BounceClass.GREYLISTED,
    BounceClass.RATE_LIMITED,
    BounceClass.CONNECTION,
    BounceClass.SOFT_OTHER,
)

# Replies as the big mailbox providers and the common servers word them (public wordings).
REPLIES = [
    # Gmail
    (
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces.",
        U,
    ),
    (550, "5.2.1 The email account that you tried to reach is disabled.", U),
    (
        452,
        "4.2.2 The email account that you tried to reach is over quota. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaTemp",
        F,
    ),
    (552, "5.2.2 The email account that you tried to reach is over quota and inactive.", F),
    (
        550,
        "5.7.26 This mail is unauthenticated, which poses a security risk to the sender and "
        "Gmail users, and has been blocked. The sender must authenticate with at least one of SPF "
        "or DKIM.",
        P,
    ),
    (
        550,
        "5.7.26 Unauthenticated email from shop.test is not accepted due to domain's DMARC policy.",
        P,
    ),
    (
        421,
        "4.7.28 Our system has detected an unusual rate of unsolicited mail originating from "
        "your IP address. To protect our users from spam, mail sent from your IP address has been "
        "temporarily rate limited.",
        R,
    ),
    (
        550,
        "5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce "
        "the amount of spam sent to Gmail, this message has been blocked.",
        P,
    ),
    (
        550,
        "5.7.25 The IP address sending this message does not have a PTR record setup, or the "
        "corresponding forward DNS entry does not point to the sending IP.",
        P,
    ),
    (550, "5.7.27 The sender address/domain doesn't pass SPF", P),
    (552, "5.3.4 Your message exceeded Google's message size limits.", H),
    (550, "5.4.5 Daily user sending limit exceeded.", R),
    (451, "4.3.0 Mail server temporarily rejected message.", S),
    # Microsoft (Outlook.com, Exchange Online)
    (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", U),
    (550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", U),
    (550, "5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus.", P),
    (550, "5.7.606 Access denied, banned sending IP [192.0.2.1].", P),
    (451, "4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS761)", R),
    (550, "5.4.310 DNS domain nowhere.test does not exist [Message=InfoDomainNonexistent]", D),
    (
        550,
        "5.7.509 Access denied, sending domain shop.test does not pass DMARC verification and "
        "has a DMARC policy of reject.",
        P,
    ),
    (554, "5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException", F),
    (
        421,
        "4.3.2 The maximum number of concurrent server connections has exceeded a limit, "
        "closing transmission channel",
        R,
    ),
    (550, "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", P),
    (550, "5.5.0 Requested action not taken: mailbox unavailable (S2017062302).", U),
    # Yahoo / AOL
    (
        554,
        "delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - "
        "mta1234.mail.ne1.yahoo.com",
        U,
    ),
    (
        421,
        "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
        "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        R,
    ),
    (
        553,
        "5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying "
        "will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
        P,
    ),
    (
        554,
        "5.7.9 Message not accepted for policy reasons. See "
        "https://postmaster.yahooinc.com/error-codes",
        P,
    ),
    (552, "1 Requested mail action aborted, mailbox not found", U),
    # iCloud
    (550, "5.1.1 <x@icloud.com>: inactive email address", U),
    (554, "5.7.1 [CS01] Message rejected due to local policy.", P),
    # Postfix, Sendmail, Exim, postgrey
    (
        550,
        "5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        U,
    ),
    (554, "5.7.1 <x@example.org>: Relay access denied", P),
    (550, "5.1.2 Host unknown (Name server: nowhere.test: host not found)", D),
    (550, "Unrouteable address", D),
    (452, "4.2.2 Mailbox full", F),
    (
        450,
        "4.2.0 <x@example.org>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
        G,
    ),
    (451, "4.7.1 Greylisting in action, please come back later", G),
    (554, "5.7.1 Message rejected because of spam content", P),
    (421, "4.4.2 Connection timed out", C),
    (None, "Connection refused", C),
    (550, "Requested action not taken", H),
    (450, "Requested mail action not taken: try again", S),
]


@pytest.mark.parametrize(("code", "text", "expected"), REPLIES)
def test_provider_replies_get_their_class(code, text, expected) -> None:
    result = classify_reply(code, text)
    assert result.bounce_class is expected, (code, text)
    assert result.hard == expected.value.startswith("hard.")
    assert result.reason  # plain words for every class


def test_there_are_at_least_thirty_real_wordings_and_every_class_is_reached() -> None:
    assert len(REPLIES) >= 30
    assert {expected for _, _, expected in REPLIES} == set(BounceClass)


def test_the_enhanced_code_and_the_servers_words_are_kept() -> None:
    result = classify_reply(550, "5.1.1   The email account\n that you tried to reach")
    assert result.status == "5.1.1"
    assert result.diagnostic == "5.1.1 The email account that you tried to reach"
    assert enhanced_status("250 2.0.0 OK id=1.2.3.4") == "2.0.0"
    assert enhanced_status("blocked using 192.0.2.1") is None  # an IP is not a status code


def test_postfix_dsn_names_the_recipient_the_class_and_the_original_message() -> None:
    dsn = parse_dsn((DSN / "postfix-unknown-user.eml").read_bytes())
    assert dsn is not None
    assert dsn.original_message_id == "<order-1001@shop.test>"
    assert dsn.reporting_mta == "mail.example.org"
    (entry,) = dsn.recipients
    assert (entry.recipient, entry.action) == ("nobody@example.org", "failed")
    assert entry.classification.bounce_class is BounceClass.UNKNOWN_USER
    assert entry.classification.status == "5.1.1"
    assert "User unknown in virtual mailbox table" in entry.classification.diagnostic
    assert entry.remote_mta == "mx.example.org"


def test_a_delay_notice_is_soft_and_greylisting_is_named() -> None:
    dsn = parse_dsn((DSN / "postfix-delayed-greylist.eml").read_bytes())
    assert dsn is not None
    (entry,) = dsn.recipients
    assert entry.action == "delayed"
    assert entry.classification.bounce_class is BounceClass.GREYLISTED
    assert not entry.classification.hard


def test_exim_dsn_prefers_the_remote_servers_code_over_a_generic_status() -> None:
    dsn = parse_dsn((DSN / "exim-mailbox-full.eml").read_bytes())
    assert dsn is not None
    assert dsn.original_message_id == "<order-1003@shop.test>"  # from the attached message
    (entry,) = dsn.recipients
    assert entry.recipient == "full@example.net"
    assert entry.classification.status == "5.2.2"
    assert entry.classification.bounce_class is BounceClass.MAILBOX_FULL


def test_a_classic_plain_text_exim_bounce_is_read_too() -> None:
    dsn = parse_dsn((DSN / "exim-classic-text.eml").read_bytes())
    assert dsn is not None
    assert dsn.original_message_id == "<order-1004@shop.test>"
    (entry,) = dsn.recipients
    assert entry.recipient == "ghost@example.net"
    assert entry.action == "failed"
    assert entry.classification.bounce_class is BounceClass.UNKNOWN_USER


def test_an_ordinary_message_is_not_a_dsn() -> None:
    plain = (
        b"From: a@example.org\r\nTo: b@shop.test\r\nSubject: hello\r\n"
        b"Message-ID: <x@example.org>\r\n\r\nJust a note.\r\n"
    )
    assert parse_dsn(plain) is None
