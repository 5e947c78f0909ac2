"""Reception: the inbound SMTP server for dedicated domains, and its receiver-side checks."""
