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


class MissingGroup(BaseModel):
    """A group named in the mapping that the operator's directory no longer has: the sync counted it
    as a group with no members (its members lost the roles it gave) and went on with everything else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(description="The group as the mapping names it (cn or DN).", examples=["it"])
    roles_lost: dict[str, dict[Role, int]] = Field(
        description="Service -> the role the group gave there -> how many people lost that role in this sync (0 once they lost it earlier).",
        examples=[{"mastodon": {"admins": 2}}],
    )
    message: str = Field(description="What happened and what to do, in plain words.")
