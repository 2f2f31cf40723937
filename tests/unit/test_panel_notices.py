"""Every notice goes by e-mail to the operator's account address, once it is stored: the mail says
what changes, why, the downtime, the deadline and the planned start, and links to the maintenance
page. A failed send is tried again; an operator without an address is not written to; no header
can be smuggled in through a title; without a mail server the panel says once that e-mail is off."""

from datetime import timedelta

import pytest

from services.panel.adapters.fakes import FakeMailer
from services.panel.adapters.maintenance import Notice
from services.panel.bootstrap import mail_work
from services.panel.live import Changes
from services.panel.notices import NoticeMailer
from services.panel.operators import create_operator
from services.panel.settings import Settings
from tests.unit.test_panel_harness import panel  # noqa: F401
from tests.unit.test_panel_maintenance import CHANGE, NOW, notified

SETTINGS = Settings(base_url="https://panel.provider.example/", smtp_from="Provider <updates@provider.example>", mail_retry_seconds=0,
                    smtp_password="smtp-secret-Qx7")


@pytest.fixture
def mailer():
    return FakeMailer()


@pytest.fixture
def outbox(panel, mailer):
    return NoticeMailer(panel.context.units, mailer, SETTINGS)


async def state_of(panel, event) -> Notice:
    async with panel.context.units.database.session() as session:
        return (await session.execute(Notice.__table__.select().where(Notice.event_id == str(event.event_id)))).one()


async def test_a_notice_is_mailed_once_to_the_operators_address_with_everything_they_need(panel, mailer, outbox):
    await panel.logged_in("ann@acme.example", "acme")
    notice = notified(category="security", window=notified().window.model_copy(update={"timezone": "Europe/Amsterdam", "start": "04:00"}))
    await panel.apply(notice)

    assert await outbox.send_due() == 1
    assert await outbox.send_due() == 0, "marked as sent"
    [mail] = mailer.sent
    assert (mail["To"], mail["From"]) == ("ann@acme.example", "Provider <updates@provider.example>")
    assert mail["Subject"] == "[Security update] Update coming: Fediversity 25.05"
    assert mail["Message-ID"] == f"<{notice.event_id}@fedipanel>"
    text = mail.get_content()
    for said in ("Your hosting provider will update the services of acme: Fediversity 25.05.", "This is a security update.",
                 "Security fixes in Mastodon", f"  - {CHANGE}", "Expected downtime: about 2 minutes.",
                 "Planned start: Sunday 2 June 2030, 04:00 Europe/Amsterdam (02:00 UTC).",
                 "Your maintenance window: Sundays from 04:00 for 4 hours (Europe/Amsterdam).",
                 "It is applied by then at the latest, even outside your maintenance window.",
                 "https://panel.provider.example/maintenance"):
        assert said in text, said
    assert "smtp-secret-Qx7" not in mail.as_string()
    assert (await state_of(panel, notice)).email_state == "sent"
    page = (await (await panel.logged_in("x@x.example", "xop")).get("/maintenance")).text
    assert "Fediversity 25.05" not in page


async def test_a_start_not_known_yet_is_said_to_come_after_the_first_wave(panel, mailer, outbox):
    await panel.logged_in("ann@acme.example", "acme")
    await panel.apply(notified(planned_start=None), notified(notice="reminder", after=timedelta(minutes=1), planned_start=None))
    await outbox.send_due()
    assert [m["Subject"] for m in mailer.sent] == ["Update coming: Fediversity 25.05", "Reminder: Fediversity 25.05"]
    assert all("Planned start: after the first wave." in m.get_content() for m in mailer.sent)
    assert "You may defer it until then at the latest." in mailer.sent[0].get_content()


async def test_a_failed_send_is_kept_and_tried_again(panel, mailer, outbox, capsys):
    await panel.logged_in("ann@acme.example", "acme")
    notice = notified()
    await panel.apply(notice)
    mailer.failing = True

    assert await outbox.send_due() == 0
    failed = await state_of(panel, notice)
    assert (failed.email_state, failed.email_attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in failed.email_note
    mailer.failing = False
    assert await outbox.send_due() == 1 and len(mailer.sent) == 1
    logged = capsys.readouterr()
    assert "notice e-mail failed; will retry" in logged.out + logged.err
    assert "smtp-secret-Qx7" not in logged.out + logged.err


async def test_operators_without_a_panel_account_or_past_the_deadline_are_not_written_to(panel, mailer, outbox):
    async with panel.context.units.database.session() as session:
        await create_operator(session, "apionly")
    await panel.logged_in("ann@acme.example", "acme")
    await panel.apply(notified("apionly"), notified(campaign_id="old", deadline=NOW - timedelta(days=1)))

    assert await outbox.send_due() == 0 and mailer.sent == []
    async with panel.context.units.database.session() as session:
        notes = sorted((await session.execute(Notice.__table__.select())).all(), key=lambda row: row.operator_id)
    assert [(n.operator_id, n.email_state, n.email_note) for n in notes] == [
        ("acme", "skipped", "its deadline passed before it could be mailed"), ("apionly", "skipped", "no panel account to write to")]


async def test_a_title_with_line_breaks_cannot_add_mail_headers(panel, mailer, outbox):
    await panel.logged_in("ann@acme.example", "acme")
    await panel.apply(notified(title="Update\r\nBcc: everyone@example.org"))
    await outbox.send_due()
    [mail] = mailer.sent
    assert mail["Bcc"] is None and mail["Subject"] == "Update coming: Update Bcc: everyone@example.org"


async def test_without_a_mail_server_the_panel_says_once_that_e_mail_is_off(panel, capsys):
    assert mail_work(Settings(), panel.context.units, Changes()) == []
    logged = capsys.readouterr()
    assert (logged.out + logged.err).count("e-mail is off") == 1
    [work] = mail_work(Settings(smtp_host="mail.provider.example"), panel.context.units, Changes())
    work.close()  # a coroutine that would mail for ever; not run here


def test_links_and_sender_default_to_the_panels_own_address_and_production_needs_a_base_url():
    local = Settings(http_port=8123)
    assert (local.public_url, local.mail_sender) == ("http://127.0.0.1:8123", "FediPanel <noreply@127.0.0.1>")
    assert Settings(base_url="https://panel.provider.example/").mail_sender == "FediPanel <noreply@panel.provider.example>"
    with pytest.raises(ValueError, match="FEDI_PANEL_BASE_URL"):
        Settings(environment="production", secret_key="a real one", smtp_host="mail.provider.example")
    assert "smtp-secret-Qx7" not in repr(SETTINGS) and "smtp-secret-Qx7" not in str(SETTINGS.model_dump())
