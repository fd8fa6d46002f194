"""Mail goes to a real SMTP server when LMS_SMTP_URL is set."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller

from lms.mail import Mailer
from tests.accounts.conftest import link_in, outbox


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, collector
    controller.stop()


def test_reset_mail_goes_through_smtp(app_factory, make_user, smtp_server):
    port, collector = smtp_server
    user = make_user(email="malee@example.org")
    app = app_factory(
        LMS_SMTP_URL=f"smtp://127.0.0.1:{port}", LMS_MAIL_FROM="Kenshu <office@example.org>"
    )
    client = app.test_client()

    response = client.post("/password/forgot", data={"email": user.email})
    assert response.status_code == 302

    [(sender, recipients, content)] = collector.messages
    assert sender == "office@example.org"
    assert recipients == ["malee@example.org"]
    message = message_from_bytes(content, policy=email_policy.default)
    assert message["To"] == "malee@example.org"
    assert message["Subject"] == "Reset your Kenshu password"
    link = link_in(message)
    assert link.startswith("/password/reset/")
    assert not outbox(app).exists() or not list(outbox(app).glob("*.eml"))

    # The link from the SMTP message works.
    new = "changed through smtp"
    assert client.post(link, data={"password": new, "confirm": new}).status_code == 302


def test_unknown_address_sends_nothing_over_smtp(app_factory, smtp_server):
    port, collector = smtp_server
    app = app_factory(LMS_SMTP_URL=f"smtp://127.0.0.1:{port}")
    response = app.test_client().post("/password/forgot", data={"email": "nobody@example.org"})
    assert response.status_code == 302
    assert collector.messages == []


def test_mailer_sends_unicode_subject_and_body(tmp_path, smtp_server):
    from lms.config import load_settings

    port, collector = smtp_server
    settings = load_settings(
        {"LMS_INSTANCE_PATH": str(tmp_path), "LMS_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    )
    Mailer(settings).send("taro@example.org", "研修へようこそ", "山田 太郎 様\nこんにちは")
    [(_sender, recipients, content)] = collector.messages
    assert recipients == ["taro@example.org"]
    message = message_from_bytes(content, policy=email_policy.default)
    assert message["Subject"] == "研修へようこそ"
    assert "山田 太郎 様" in message.get_content()


def test_without_smtp_mail_is_written_to_the_outbox(tmp_path):
    from lms.config import load_settings

    settings = load_settings({"LMS_INSTANCE_PATH": str(tmp_path)})
    Mailer(settings).send("taro@example.org", "研修へようこそ", "本文")
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    message = message_from_bytes(path.read_bytes(), policy=email_policy.default)
    assert (message["To"], message["Subject"], message.get_content().strip()) == (
        "taro@example.org",
        "研修へようこそ",
        "本文",
    )
