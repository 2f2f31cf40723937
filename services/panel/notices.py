"""Mailing notices to operators, outbox-style: the projection stores each notice, this sends the ones
not sent yet and marks them. A notice is marked only after the mail server took it, so a crash
loses none (one may go out twice). A claim with a lease keeps two panel instances from sending the
same notice at once; a failed send is tried again later, waiting longer each time. Time comes from
`now` (the system clock unless a test gives a fake one): a mail is dated by it, and it decides
what is due and whether a notice's deadline has passed."""

from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime

from sqlalchemy import update

from runtime import logs
from runtime.uow import UnitsOfWork

from .adapters.accounts import Accounts
from .adapters.mail import Mailer, MailFailed
from .adapters.maintenance import Notice, NoticeMail
from .adapters.store import now
from .domain.notice_mail import compose
from .live import Changes
from .settings import Settings

log = logs.get("panel")
MAX_RETRY = timedelta(days=1)


class NoticeMailer:
    def __init__(self, units: UnitsOfWork, mailer: Mailer, settings: Settings, now: Callable[[], datetime] = now) -> None:
        self.units, self.mailer, self.settings, self.now = units, mailer, settings, now
        self.lease = timedelta(seconds=max(60.0, 2 * settings.smtp_timeout_seconds))

    async def _mark(self, notice_id: int, claimed_until: datetime | None, **values) -> bool:
        """Sets `values` on the notice if it is still pending (and, with `claimed_until`, claimable then)."""
        async with self.units.database.session() as session:
            query = update(Notice).where(Notice.id == notice_id, Notice.email_state == "pending")
            if claimed_until is not None:
                query = query.where((Notice.email_next_at.is_(None)) | (Notice.email_next_at <= claimed_until))
            done = (await session.execute(query.values(**values))).rowcount == 1
            await session.commit()
        return done

    async def send_due(self) -> int:
        """Sends every notice that is due; returns how many went out."""
        moment = self.now()
        async with self.units.database.session() as session:
            due = await NoticeMail(session).due(moment)
            addresses = {}
            for notice in due:
                if notice.operator_id not in addresses:
                    user = await Accounts(session).user_of_operator(notice.operator_id)
                    addresses[notice.operator_id] = user.email if user else None
        sent = 0
        for notice in due:
            address = addresses[notice.operator_id]
            if address is None or notice.deadline < moment:
                note = "no panel account to write to" if address is None else "its deadline passed before it could be mailed"
                await self._mark(notice.id, None, email_state="skipped", email_note=note)
                log.info("notice not mailed", operator_id=notice.operator_id, campaign_id=notice.campaign_id, why=note)
                continue
            if not await self._mark(notice.id, moment, email_next_at=moment + self.lease):
                continue  # another instance has it
            message = compose(notice, notice.operator_id, address, self.settings.mail_sender, self.settings.public_url)
            message["Date"] = format_datetime(moment)
            try:
                await self.mailer.send(message)
            except MailFailed as exc:
                wait = min(timedelta(seconds=self.settings.mail_retry_seconds) * 2**notice.email_attempts, MAX_RETRY)
                await self._mark(notice.id, None, email_attempts=notice.email_attempts + 1, email_note=str(exc),
                                 email_next_at=self.now() + wait)
                log.warning("notice e-mail failed; will retry", operator_id=notice.operator_id, campaign_id=notice.campaign_id,
                            error=str(exc), retry_in=wait.total_seconds())
                continue
            await self._mark(notice.id, None, email_state="sent", emailed_at=self.now(), email_note="")
            log.info("notice mailed", operator_id=notice.operator_id, campaign_id=notice.campaign_id, notice=notice.notice)
            sent += 1
        return sent

    async def run_forever(self, changes: Changes) -> None:
        """Sends what is due whenever a handled event changed the read model, and on a timer."""
        while True:
            try:
                while await self.send_due():
                    pass
            except Exception:
                log.warning("notice mailer failed; will retry", exc_info=True)
            await changes.wait(self.settings.mail_poll_seconds)
