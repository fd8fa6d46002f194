"""Outgoing email: ``.eml`` files in ``instance/outbox/`` by default, SMTP when configured."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Flask

from lms.config import Settings
from lms.db import utcnow


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/csv"
    data: bytes


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.sender = settings.mail_from
        self.smtp_url = settings.smtp_url
        self.outbox = settings.instance_path / "outbox"

    def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="kenshu.localhost")
        message.set_content(body)
        for attachment in attachments:
            maintype, subtype = attachment.content_type.split("/", 1)
            message.add_attachment(
                attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        if self.smtp_url:
            self._send_smtp(message)
        else:
            self._write_eml(message)
        return message

    def _write_eml(self, message: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        token = message["Message-ID"].strip("<>").split("@")[0][-8:]
        path = self.outbox / f"{stamp}-{token}.eml"
        path.write_bytes(bytes(message))
        return path

    def _send_smtp(self, message: EmailMessage) -> None:
        url = urlsplit(self.smtp_url or "")
        options = parse_qs(url.query)
        host, port = url.hostname or "localhost", url.port
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port or 465, context=ssl.create_default_context(), timeout=30
            )
        else:
            client = smtplib.SMTP(host, port or 25, timeout=30)
        with client:
            if url.scheme == "smtp" and options.get("starttls", ["0"])[0] in ("1", "true"):
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["lms.mailer"] = Mailer(settings)


def get_mailer(app: Flask | None = None) -> Mailer:
    from flask import current_app  # noqa: PLC0415

    return (app or current_app).extensions["lms.mailer"]
