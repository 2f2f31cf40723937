"""An operator's own LDAP directory, as identity syncs it into the operator's subtree (US 1.2).
The bind password is never part of these models: it travels only in a request/reply body."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admins", "moderators", "users"]
"""The groups every deployed service has in the operator's subtree."""

DirectoryProblemKind = Literal[
    "unreachable", "bad_credentials", "no_base", "bad_filter", "empty", "unknown_group", "not_connected"
]


class DirectoryParameters(BaseModel):
    """How to read the operator's directory (everything but the bind password)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="ldap:// or ldaps:// URL of the operator's directory.", examples=["ldaps://ldap.acme.example"])
    bind_dn: str = Field(description="The account identity reads with.", examples=["cn=reader,dc=acme,dc=example"])
    base_dn: str = Field(description="Where users and groups are searched.", examples=["dc=acme,dc=example"])
    user_filter: str = Field(default="(objectClass=inetOrgPerson)", description="LDAP filter selecting the users to sync.")
    group_filter: str = Field(
        default="(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
        description="LDAP filter selecting the groups whose members are mapped.",
    )
    uid_attribute: str = Field(default="uid", description="The attribute holding a user's login name.")
    mapping: dict[str, dict[str, Role]] = Field(
        default_factory=dict,
        description="Their group (cn or DN) -> {service: admins|moderators|users}; members get that role in that service.",
        examples=[{"staff": {"mastodon": "moderators", "pixelfed": "users"}, "it": {"mastodon": "admins"}}],
    )
