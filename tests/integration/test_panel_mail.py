"""The panel as its composition root wires it, on a real nats-server, mailing notices through a real
SMTP server (aiosmtpd, with a login): a notice on the stream reaches the operator's mailbox, and one
stored while the mail server was down is sent after the panel restarts; the SMTP password is
never in the logs."""

import asyncio
from email import message_from_bytes, policy

import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from contracts import encode
from contracts.subjects import STREAM
from runtime.bus import Bus
from runtime.db import Database
from runtime.nats_server import free_port
from runtime.service import migrations_of
from runtime.uow import UnitsOfWork
from services.panel import accounts, bootstrap
from services.panel.adapters.maintenance import Notice
from services.panel.adapters.store import Base
from services.panel.settings import Settings
from tests.unit.test_panel_maintenance import CHANGE, notified

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

SMTP_USER, SMTP_PASSWORD = "panel", "relay-password-Kp2"


class Mailbox:
    """Accepts mail for anyone after a login with the panel's account."""

    def __init__(self) -> None:
        self.messages: list = []

    async def received(self) -> list:
        return self.messages

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 Message accepted for delivery"


def login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def mail_server(mailbox: Mailbox, port: int) -> Controller:
    return Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=login, auth_required=True, auth_require_tls=False)


class PanelProcess:
    """The panel's service runner in this process: migrations, bus, the wiring's background work
    (the composition root's, unless a test wires a part of the panel itself)."""

    def __init__(self, settings: Settings, wire=None) -> None:
        self.settings = settings
        self.wire = wire or bootstrap.wiring(settings)

    async def start(self) -> "PanelProcess":
        self.database = Database(self.settings.sqlalchemy_url())
        await self.database.migrate(migrations_of(bootstrap.__file__))
        self.units = UnitsOfWork(self.database, Base.metadata)
        self.bus = Bus("panel", self.settings, self.units)
        background = await self.wire(self.bus, self.units)
        await self.bus.start()
        self.tasks = [asyncio.create_task(work) for work in background]
        return self

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.stop()
        await self.database.close()

    async def notices(self) -> list:
        async with self.database.session() as session:
            return list((await session.execute(select(Notice))).scalars())


@pytest.fixture
def settings(nats_server, tmp_path) -> Settings:
    return Settings(
        nats_url=nats_server.url, data_dir=tmp_path / "panel", http_port=free_port(), smtp_host="127.0.0.1", smtp_port=free_port(),
        smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD, smtp_starttls=False, smtp_timeout_seconds=5, mail_poll_seconds=0.1,
        mail_retry_seconds=0.1, base_url="https://panel.provider.example",
    )


async def with_operator(panel: PanelProcess) -> PanelProcess:
    async with panel.database.session() as session:
        await accounts.sign_up(session, "ann@acme.example", "acme", "a long enough passphrase")
    return panel


async def publish(nats_url: str, *messages) -> None:
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for message in messages:
            await js.publish(message.subject(), encode(message), stream=STREAM, headers={"Nats-Msg-Id": str(message.event_id)})
    finally:
        await connection.close()


async def test_a_notice_on_the_stream_reaches_the_operators_mailbox(settings, eventually, capsys):
    mailbox = Mailbox()
    server = mail_server(mailbox, settings.smtp_port)
    server.start()
    panel = await with_operator(await PanelProcess(settings).start())
    try:
        notice = notified(title="Fediversity 25.05")
        await publish(settings.nats_url, notice, notice)  # the second is dropped as a duplicate

        [(recipients, mail)] = await eventually(mailbox.received, "the notice delivered")
        assert recipients == ["ann@acme.example"]
        assert mail["Subject"] == "Update coming: Fediversity 25.05"
        assert CHANGE in mail.get_content() and "https://panel.provider.example/maintenance" in mail.get_content()
        assert len(await eventually(_sent(panel), "marked as sent")) == 1, "the duplicate was not stored twice"
        assert len(mailbox.messages) == 1
    finally:
        await panel.stop()
        server.stop()
    logged = capsys.readouterr()
    assert SMTP_PASSWORD not in logged.out + logged.err


def _sent(panel: PanelProcess):
    async def check():
        notices = await panel.notices()
        return notices if notices and all(n.email_state == "sent" for n in notices) else None

    return check


async def test_a_notice_stored_while_the_mail_server_was_down_is_sent_after_a_restart(settings, eventually):
    panel = await with_operator(await PanelProcess(settings).start())
    try:
        await publish(settings.nats_url, notified(title="Kept through a restart"))

        async def tried():
            notices = await panel.notices()
            return notices and notices[0].email_attempts >= 1 and notices

        [waiting] = await eventually(tried, "a first attempt that fails: no mail server yet")
        assert waiting.email_state == "pending" and "ConnectionRefusedError" in waiting.email_note
    finally:
        await panel.stop()

    mailbox = Mailbox()
    server = mail_server(mailbox, settings.smtp_port)
    server.start()
    again = await PanelProcess(settings.model_copy(update={"http_port": free_port()})).start()
    try:
        [(recipients, mail)] = await eventually(mailbox.received, "the kept notice delivered after the restart")
        assert recipients == ["ann@acme.example"] and mail["Subject"] == "Update coming: Kept through a restart"
        await eventually(_sent(again), "marked as sent")
    finally:
        await again.stop()
        server.stop()
