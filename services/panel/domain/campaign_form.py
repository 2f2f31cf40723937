"""The provider admin's form for a fleet-wide update: its title and reason, how urgent, the policy
changes (YAML), the deadline and how it moves through the fleet; checked into the fields of
contracts.fleet.CampaignRequested, or problems keyed by form field. No I/O."""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from contracts.fleet import CampaignCategory, Waves

from .form import FieldProblems, problems_by_field

FIELDS = ("title", "reason", "category", "notice_days", "deadline", "policy_changes", "canary", "growth", "soak_minutes", "failure_threshold")
DEFAULTS = {
    "category": "routine", "notice_days": "14", "canary": str(Waves().canary), "growth": f"{Waves().growth:g}",
    "soak_minutes": str(Waves().soak_minutes), "failure_threshold": f"{Waves().failure_threshold * 100:g}",
}
EXAMPLES = (
    ("A new Fediversity release", 'release: "25.05"'),
    ("More memory for every Mastodon VM", "sizes:\n  mastodon:\n    memory_mib: 8192"),
    ("A new NixOS template on Proxmox", "proxmox:\n  template: 9001"),
    ("A new deploy key for every operator", "ssh_keys:\n  generation: 2"),
)
DEADLINE_TIME = time(23, 59)
"""A deadline date means the end of that day, UTC."""


class _CampaignForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=120)
    reason: str = Field(min_length=1, max_length=2000)
    category: CampaignCategory
    notice_days: float = Field(ge=0, le=90)
    deadline: date
    policy_changes: dict[str, Any]
    canary: int = Field(ge=1)
    growth: float = Field(ge=1, le=100)
    soak_minutes: int = Field(ge=0)
    failure_threshold: float = Field(ge=0, le=100, description="Percent.")

    @field_validator("policy_changes", mode="before")
    @classmethod
    def _yaml_mapping(cls, text: Any) -> dict[str, Any]:
        if isinstance(text, dict):
            return text
        try:
            document = yaml.safe_load(str(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise ValueError(f"is not valid YAML{where}: {getattr(exc, 'problem', None) or 'cannot be read'}") from None
        if not isinstance(document, dict) or not document:
            raise ValueError("must say what changes, as keys and values such as release: \"25.05\"")
        try:
            return json.loads(json.dumps(document))
        except (TypeError, ValueError):
            raise ValueError("holds a value that is not plain text, a number, true/false, a list or a mapping (put dates in quotes)") from None

    @field_validator("deadline")
    @classmethod
    def _after_the_notice(cls, value: date, info: ValidationInfo) -> date:
        today: date = (info.context or {}).get("today", datetime.now(UTC).date())
        notice = info.data.get("notice_days")
        if value <= today:
            raise ValueError("must be a day after today")
        if notice is not None and datetime.combine(value, DEADLINE_TIME, UTC) < datetime.combine(today, time(), UTC) + timedelta(days=notice):
            raise ValueError(f"must not come before the notice period ends ({notice:g} days from today)")
        return value


def checked_campaign(values: Mapping[str, str], today: date) -> dict[str, Any]:
    """The fields of a CampaignRequested (without envelope and requester), or FieldProblems."""
    typed = {name: values[name] for name in FIELDS if values.get(name) not in (None, "")}
    try:
        form = _CampaignForm.model_validate(typed, context={"today": today})
    except ValidationError as exc:
        raise FieldProblems(problems_by_field(exc)) from None
    return {
        "title": form.title,
        "reason": form.reason,
        "category": form.category,
        "notice_days": form.notice_days,
        "deadline": datetime.combine(form.deadline, DEADLINE_TIME, UTC),
        "policy_changes": form.policy_changes,
        "waves": Waves(canary=form.canary, growth=form.growth, soak_minutes=form.soak_minutes, failure_threshold=form.failure_threshold / 100),
    }


def digest(fields: Mapping[str, Any]) -> str:
    """Names exactly what was previewed, so that what is sent is what the admin saw."""
    canonical = {key: value.model_dump() if isinstance(value, BaseModel) else value for key, value in fields.items()}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:32]
