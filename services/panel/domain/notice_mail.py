"""The e-mail that tells an operator of an update: what changes and why, the downtime to expect, the
deadline, the planned start in their own time, and where to choose. Plain text. No I/O."""

import re
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from contracts.fleet import WeeklyWindow

from .fleet_words import downtime_words, local_time, planned_words, window_words


class NoticeLike(Protocol):
    event_id: str
    notice: str
    title: str
    reason: str
    category: str
    downtime_minutes: int
    deadline: datetime
    planned_start: datetime | None

    @property
    def changes(self) -> list[str]: ...
    @property
    def window(self) -> WeeklyWindow: ...


def _one_line(text: str) -> str:
    """Header values never carry line breaks (they would start new headers)."""
    return re.sub(r"\s+", " ", text).strip()


def subject(notice: NoticeLike) -> str:
    urgent = "[Security update] " if notice.category == "security" else ""
    said = {
        "notice": f"Update coming: {notice.title}",
        "reminder": f"Reminder: {notice.title}",
        "rescheduled": f"New time for {notice.title}",
    }.get(notice.notice, notice.title)
    return _one_line(urgent + said)


def body(notice: NoticeLike, operator_id: str, maintenance_url: str) -> str:
    window = notice.window
    deadline_rule = (
        "It is applied by then at the latest, even outside your maintenance window."
        if notice.category == "security" else "You may defer it until then at the latest."
    )
    lead = {
        "notice": f"Your hosting provider will update the services of {operator_id}: {notice.title}.",
        "reminder": f"A reminder: your hosting provider will soon update the services of {operator_id}: {notice.title}.",
        "rescheduled": f"The update of the services of {operator_id} ({notice.title}) has a new planned start.",
    }.get(notice.notice, f"An update of the services of {operator_id}: {notice.title}.")
    changes = "\n".join(f"  - {line}" for line in notice.changes) or "  - nothing you will notice"
    return "\n".join([
        "Hello,",
        "",
        lead,
        *(["This is a security update."] if notice.category == "security" else []),
        "",
        "Why:",
        f"  {notice.reason.strip() or 'no reason was given'}",
        "",
        "What changes:",
        changes,
        "",
        f"Expected downtime: {downtime_words(notice.downtime_minutes)}.",
        f"Planned start: {planned_words(notice.planned_start, window.timezone)}.",
        f"Your maintenance window: {window_words(window)}.",
        f"Deadline: {local_time(notice.deadline, window.timezone)}. {deadline_rule}",
        "",
        "Choose your weekly maintenance window, apply the update now, or defer it:",
        maintenance_url,
        "",
        "-- ",
        "FediPanel",
        "",
    ])


def compose(notice: NoticeLike, operator_id: str, to: str, sender: str, base_url: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject(notice)
    # The same id for every attempt, so a notice sent twice (at-least-once) is one conversation.
    message["Message-ID"] = f"<{notice.event_id}@fedipanel>"
    message.set_content(body(notice, operator_id, f"{base_url.rstrip('/')}/maintenance"))
    return message
