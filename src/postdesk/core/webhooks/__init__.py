"""Provider event webhooks (SendGrid, Mailgun, Postmark, Amazon SES through SNS).

Each provider module verifies its own signature scheme and normalizes its payload into
:class:`~postdesk.core.webhooks.events.ProviderEvent`; ``fold`` applies the events to the
message activity and the suppression list; ``receive`` serves the routes on the tracking
endpoint; ``urls`` says where each provider posts and what arrived.
"""
