"""Mail connectors: SMTP and dry-run (.eml) senders, the IM robot channel, a loopback SMTP server."""

from connectors.mail.eml import DryRunSender
from connectors.mail.smtp import SmtpPermanentError, SmtpSender, SmtpTransientError

__all__ = ["DryRunSender", "SmtpPermanentError", "SmtpSender", "SmtpTransientError"]
