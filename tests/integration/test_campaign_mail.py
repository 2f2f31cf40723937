"""A campaign as the operator's mailbox sees it: the configurator's scheduler on a fake clock, the
panel's read model and notice mailer on the same clock, a real SMTP server (aiosmtpd). The notice
arrives when the campaign is sent, each reminder once the clock reaches 7 days and 1 day before the
operator's window and not a second earlier, each saying what changes, why, the downtime, the
deadline and the planned start in the operator's own time."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.fleet import WeeklyWindow
from services.panel import bootstrap
from services.panel.adapters.mail import SmtpMailer
from services.panel.notices import NoticeMailer
from tests.integration.test_campaign_schedule import (  # noqa: F401
    MONDAY,
    advance_to,
    deployed,
    fleet,
    notices,
    request,
    start_configurator,
    window_chosen,
)
from tests.integration.test_panel_mail import Mailbox, PanelProcess, mail_server, settings, with_operator  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

TUESDAY_NIGHT_IN_AMSTERDAM = WeeklyWindow(day="tuesday", start="23:30", duration_minutes=120, timezone="Europe/Amsterdam")
PLANNED = datetime(2027, 1, 12, 22, 30, tzinfo=UTC)  # the first of those windows after the notice week (CET, UTC+1)
EVERY_MAIL_SAYS = (
    "Why:", "  Security fixes.",
    "What changes:", "  - Mastodon: the NixOS configuration changes (settings changed: release)",
    "Expected downtime: about 2 minutes.",
    "Planned start: Tuesday 12 January 2027, 23:30 Europe/Amsterdam (22:30 UTC).",
    "Your maintenance window: Tuesdays from 23:30 for 2 hours (Europe/Amsterdam).",
    "Deadline: Wednesday 3 February 2027, 13:00 Europe/Amsterdam. You may defer it until then at the latest.",
)


def mailing_on(clock, settings):
    """The panel's read model of campaigns and its notice mailer, on the campaigns' clock (no web server)."""

    async def wire(bus, units) -> list:
        mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
                            settings.smtp_starttls, settings.smtp_timeout_seconds)
        return [NoticeMailer(units, mailer, settings, now=clock.now).run_forever(bootstrap.project(bus))]

    return wire


@pytest.fixture
async def mailbox(fleet, settings):
    box = Mailbox()
    server = mail_server(box, settings.smtp_port)
    server.start()
    panel = await with_operator(await PanelProcess(settings, mailing_on(fleet.clock, settings)).start())
    yield box
    await panel.stop()
    server.stop()


async def mails(mailbox: Mailbox, eventually, count: int) -> list:
    async def arrived():
        return mailbox.messages if len(mailbox.messages) >= count else None

    found = await eventually(arrived, f"{count} mails")
    assert len(found) == count, [mail["Subject"] for _, mail in found]
    return [mail for _, mail in found]


def unsaid(mail) -> list[str]:
    return [line for line in EVERY_MAIL_SAYS if line not in mail.get_content()]


async def test_the_notice_and_the_reminders_reach_the_operators_mailbox_when_the_campaign_is_sent_and_7_days_and_1_day_before(
    fleet, mailbox, eventually
):
    await deployed(fleet, eventually, "acme", mastodon={})
    await window_chosen(fleet, eventually, "acme", TUESDAY_NIGHT_IN_AMSTERDAM)

    campaign_id = await request(fleet, eventually, {"release": "25.05"})

    [notice] = await mails(mailbox, eventually, 1)
    assert (notice["To"], notice["Subject"], notice["Date"].datetime) == ("ann@acme.example", "Update coming: Fediversity 25.05", MONDAY)
    assert "Your hosting provider will update the services of acme: Fediversity 25.05." in notice.get_content()
    assert unsaid(notice) == []

    for sent, before in enumerate((timedelta(days=7), timedelta(days=1)), start=2):
        await advance_to(fleet, PLANNED - before - timedelta(seconds=1))
        assert len(await notices(fleet, campaign_id)) == len(mailbox.messages) == sent - 1, f"no reminder yet {before} before"
        await advance_to(fleet, PLANNED - before)
        reminder = (await mails(mailbox, eventually, sent))[-1]
        assert (reminder["Subject"], reminder["Date"].datetime) == ("Reminder: Fediversity 25.05", PLANNED - before)
        assert unsaid(reminder) == []
