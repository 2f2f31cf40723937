"""Sending e-mail through the provider's mail server (smtplib, in a thread since it blocks)."""

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from pydantic import SecretStr


class MailFailed(Exception):
    """The mail server could not be reached or refused the message (the words hold no secret)."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hands the message to the mail server (raises MailFailed)."""


class SmtpMailer:
    def __init__(self, host: str, port: int, user: str, password: SecretStr, starttls: bool, timeout: float) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password.get_secret_value())
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:  # its text may echo what was sent: only the code
            raise MailFailed(f"the mail server answered {exc.smtp_code} ({type(exc).__name__})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailFailed(f"the mail server could not be used ({type(exc).__name__})") from None
