"""The operator's high-level configuration: the one form an operator fills in (US 7.1).

Option names follow the real Fediversity project (`domain`, `initialUser`, `mastodon.enable`, ...).
Its JSON Schema is generated into `operator-configuration.schema.json` and consumed by the panel's
form and by `nix/`.
"""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

SERVICES = ("mastodon", "peertube", "pixelfed")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class _Form(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class InitialUser(_Form):
    """The operator's first user: becomes the admin account of every enabled service."""

    username: str = Field(
        title="Username",
        description="Login name of your admin account on every service: lowercase letters, digits and _, starting with a letter.",
        examples=["alice"],
        min_length=2,
        max_length=30,
        pattern=r"^[a-z][a-z0-9_]*$",
    )
    display_name: str = Field(
        title="Display name",
        description="The name shown to other people.",
        examples=["Alice Example"],
        min_length=1,
        max_length=64,
    )
    email: EmailStr = Field(
        title="E-mail address",
        description="Where the services send your account's mail (password resets, reports).",
        examples=["alice@example.org"],
        max_length=254,
    )


DataOnDisable = Literal["keep", "delete"]

_DATA_ON_DISABLE = Field(
    default="keep",
    title="When disabled, its data is",
    description="What happens to this service's stored media and database when you switch it off: kept (you can switch it on again later) or deleted for good.",
)


class Mastodon(_Form):
    """Mastodon: microblogging."""

    enable: bool = Field(default=False, title="Run Mastodon", description="Microblogging, on mastodon.<your domain>.")
    single_user_mode: bool = Field(
        default=False,
        title="Single-user mode",
        description="Only your own account; the landing page shows your profile.",
    )
    registrations: Literal["open", "approval", "closed"] = Field(
        default="approval",
        title="Sign-ups",
        description="Whether others can create accounts: freely, after your approval, or not at all.",
    )
    data_on_disable: DataOnDisable = _DATA_ON_DISABLE


class Peertube(_Form):
    """PeerTube: video hosting."""

    enable: bool = Field(default=False, title="Run PeerTube", description="Video hosting, on peertube.<your domain>.")
    transcoding: bool = Field(
        default=True,
        title="Transcode videos",
        description="Convert uploads into several resolutions so viewers on slow connections can watch.",
    )
    max_upload_gib: int = Field(
        default=4,
        ge=1,
        le=64,
        title="Largest upload (GiB)",
        description="The largest video file a user may upload.",
    )
    data_on_disable: DataOnDisable = _DATA_ON_DISABLE


class Pixelfed(_Form):
    """Pixelfed: photo sharing."""

    enable: bool = Field(default=False, title="Run Pixelfed", description="Photo sharing, on pixelfed.<your domain>.")
    registrations: bool = Field(default=False, title="Open sign-ups", description="Let anyone create an account.")
    max_photo_mib: int = Field(
        default=15,
        ge=1,
        le=100,
        title="Largest photo (MiB)",
        description="The largest photo a user may upload.",
    )
    data_on_disable: DataOnDisable = _DATA_ON_DISABLE


class OperatorConfiguration(_Form):
    """Everything an operator chooses. The system derives every concrete resource from it."""

    domain: str = Field(
        title="Domain",
        description="Your domain name; each service gets a host name under it, e.g. mastodon.<domain>.",
        examples=["example.org"],
        min_length=4,
        max_length=200,
    )
    initial_user: InitialUser = Field(title="Your admin account")
    mastodon: Mastodon = Field(default_factory=Mastodon, title="Mastodon")
    peertube: Peertube = Field(default_factory=Peertube, title="PeerTube")
    pixelfed: Pixelfed = Field(default_factory=Pixelfed, title="Pixelfed")

    @field_validator("domain")
    @classmethod
    def _domain_syntax(cls, value: str) -> str:
        domain = value.strip().lower().rstrip(".")
        labels = domain.split(".")
        if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
            raise ValueError(
                "must be a domain name such as example.org: letters, digits and hyphens, "
                "separated by dots, with at least two parts"
            )
        return domain

    @model_validator(mode="after")
    def _at_least_one_service(self) -> "OperatorConfiguration":
        if not self.enabled_services():
            raise ValueError("enable at least one service (Mastodon, PeerTube or Pixelfed)")
        return self

    def enabled_services(self) -> tuple[str, ...]:
        return tuple(name for name in SERVICES if getattr(self, name).enable)

    def service(self, name: str) -> Mastodon | Peertube | Pixelfed:
        return getattr(self, name)


def problems_of(exc: ValidationError, strip: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Field-level reasons in plain words: `[{"field": "initialUser.email", "message": ...}]`.

    `strip` drops leading location parts (FastAPI puts "body" first)."""
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        while location and location[0] in strip:
            location.pop(0)
        problems.append(
            {"field": ".".join(location) or "services", "message": error["msg"].removeprefix("Value error, ")}
        )
    return problems
