"""Email over SMTP with the standard library: STARTTLS or implicit TLS, optional AUTH,
one connection per batch.

Each message is multipart/alternative (text, then HTML). Marketing mail carries
``List-Unsubscribe`` and, for an HTTPS link, ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058); the link itself is signed by whoever builds it
(``metadata["unsubscribe_url"]``). The provider id is the Message-ID Chorus generated.
"""

from __future__ import annotations

import smtplib
import ssl
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, make_msgid
from typing import Any, Sequence

from channels.addresses import email_address
from channels.channel import EMAIL, DeclaredChannel, check_batch
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_field
from channels.errors import InvalidAddress, PermanentError, TransientError
from channels.settings import ChannelSettings

SECURITY_MODES = ("starttls", "ssl", "none")
# Reply codes about the recipient mailbox itself; anything else 5xx is about this message.
RECIPIENT_CODES = {550, 551, 553}
MARKETING = "marketing"


# compat32 messages built from email.mime flatten about four times faster than EmailMessage
# with the modern header registry, and flattening is most of an email's cost to send. Header
# values are unfolded first: compat32 would let a rendered subject's newline start a header.
BODY_CHARSET = Charset("utf-8")
BODY_CHARSET.body_encoding = QP
WIRE_POLICY = compat32.clone(linesep="\r\n", max_line_length=998)  # no folding inside a long URL


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


def _header(value: str) -> str | Header:
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8")


def build_email(envelope: Envelope, to: str, default_from: str, default_name: str | None) -> Message:
    content, metadata = envelope.content, envelope.metadata
    from_address = content_field(content, "from_address", default_from)
    from_name = content_field(content, "from_name", default_name)
    text = content_field(content, "text", "")
    html = content_field(content, "html")
    plain = MIMEText(text or " ", "plain", BODY_CHARSET)
    if html:
        message: Message = MIMEMultipart("alternative")
        message.attach(plain)
        message.attach(MIMEText(html, "html", BODY_CHARSET))
    else:
        message = plain
    message["Subject"] = _header(content_field(content, "subject", ""))
    message["From"] = formataddr((_one_line(from_name), from_address), charset="utf-8") if from_name else from_address
    message["To"] = to
    reply_to = content_field(content, "reply_to")
    if reply_to:
        message["Reply-To"] = _one_line(reply_to)
    domain = from_address.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(idstring=str(envelope.message_id), domain=domain)
    message["X-Chorus-Message-Id"] = str(envelope.message_id)
    if metadata.get("category") == MARKETING and metadata.get("unsubscribe_url"):
        url = metadata["unsubscribe_url"]
        targets = [f"<{url}>"]
        if metadata.get("unsubscribe_mailto"):
            targets.append(f"<mailto:{metadata['unsubscribe_mailto']}>")
        message["List-Unsubscribe"] = _one_line(", ".join(targets))
        if url.startswith("https://"):  # RFC 8058 one-click is defined for HTTPS only
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def classify_smtp_reply(code: int, reply: Any) -> TransientError | PermanentError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if 400 <= code < 500:
        return TransientError(text, code=str(code))
    if code in RECIPIENT_CODES:
        return PermanentError(str(code), text, address_invalid=True)
    if 500 <= code < 600:
        return PermanentError(str(code), text)
    return TransientError(f"unexpected SMTP reply {code}: {text}", code=str(code))


class EmailChannel(DeclaredChannel):
    key = EMAIL

    def __init__(self, settings: ChannelSettings, ssl_context: ssl.SSLContext | None = None):
        if not settings.smtp_configured:
            raise ValueError("SMTP needs a host and a from address")
        if settings.smtp_security not in SECURITY_MODES:
            raise ValueError(f"smtp_security must be one of {SECURITY_MODES}")
        self.settings = settings
        self.ssl_context = ssl_context or ssl.create_default_context()

    @staticmethod
    def credentials_present(settings: ChannelSettings) -> bool:
        return settings.smtp_configured

    def validate_address(self, address: str) -> str:
        return email_address(address)

    def connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=self.ssl_context
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_security == "starttls":
                smtp.starttls(context=self.ssl_context)
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        return smtp

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        check_batch(self, envelopes)
        results: list[SendResult] = []
        smtp: smtplib.SMTP | None = None
        unreachable: TransientError | None = None
        try:
            for envelope in envelopes:
                if unreachable is not None:
                    # The server is down: say so for the rest rather than wait out a timeout each.
                    results.append(Failed(envelope.message_id, unreachable))
                    continue
                result, smtp = self._send_one(smtp, envelope)
                results.append(result)
                if isinstance(result, Failed) and result.error.code in ("network", "auth"):
                    unreachable = result.error
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        return results

    def _send_one(self, smtp: smtplib.SMTP | None, envelope: Envelope) -> tuple[SendResult, smtplib.SMTP | None]:
        try:
            to = self.validate_address(envelope.address)
        except InvalidAddress as error:
            return Failed(envelope.message_id, error), smtp
        message = build_email(envelope, to, self.settings.email_from_address, self.settings.email_from_name)
        # Flattened once, here: send_message would flatten it again.
        data = message.as_bytes(policy=WIRE_POLICY)
        if len(data) > self.max_payload_bytes:
            return Failed(envelope.message_id, PermanentError("too_large", "the email is over the size limit")), smtp
        # Reconnect once: servers drop idle connections, and a connection that died between
        # messages has not taken this one yet.
        for attempt in (1, 2):
            try:
                if smtp is None:
                    smtp = self.connect()
                sender = content_field(envelope.content, "from_address", self.settings.email_from_address)
                if sender.isascii() and to.isascii():
                    smtp.sendmail(sender, [to], data)
                else:  # internationalised addresses: send_message negotiates SMTPUTF8
                    smtp.send_message(message)
                return Accepted(envelope.message_id, message["Message-ID"]), smtp
            except smtplib.SMTPServerDisconnected as error:
                smtp = None
                if attempt == 2:
                    return Failed(envelope.message_id, TransientError(f"SMTP disconnected: {error}", code="network")), None
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()))
                return Failed(envelope.message_id, classify_smtp_reply(code, reply)), smtp
            except smtplib.SMTPSenderRefused as error:
                # Our From address was refused: a configuration problem, never the recipient's.
                failure = classify_smtp_reply(error.smtp_code, error.smtp_error)
                if isinstance(failure, PermanentError):
                    failure = PermanentError(failure.code, failure.reason)
                return Failed(envelope.message_id, failure), smtp
            except smtplib.SMTPAuthenticationError as error:
                # Bad credentials fail every message until fixed: not this recipient's fault.
                return Failed(envelope.message_id, TransientError(f"SMTP login refused: {error.smtp_code}", code="auth")), _drop(smtp)
            except smtplib.SMTPResponseException as error:
                return Failed(envelope.message_id, classify_smtp_reply(error.smtp_code, error.smtp_error)), smtp
            except (smtplib.SMTPException, OSError) as error:
                return Failed(envelope.message_id, TransientError(f"SMTP unavailable: {error}", code="network")), _drop(smtp)
        raise AssertionError("unreachable")



def _drop(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()
    return None
