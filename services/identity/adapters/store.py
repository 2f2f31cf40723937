"""Identity's database: accounts, SSH keys, links to operators' own directories, one-time reveals,
encrypted secrets, and the entries of the embedded directory (when no LDAP server is configured)."""

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.secrets import secrets_table
from runtime.tables import messaging_tables


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


messaging_tables(Base.metadata)
SECRETS = secrets_table(Base.metadata)


class _AccountColumns:
    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(64))
    password_ref: Mapped[str] = mapped_column(String(120))
    dn: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Account(_AccountColumns, Base):
    """A deployed service's admin account, made in the operator's subtree."""

    __tablename__ = "accounts"


class RelayAccount(_AccountColumns, Base):
    """A service's SMTP relay login (ou=mail in the operator's subtree), kept apart from the admin
    accounts: the provider's relay authenticates it, and only the deployer may read its password."""

    __tablename__ = "relay_accounts"


class ReaderAccount(_AccountColumns, Base):
    """The operator's read-only directory account (cn=reader,ou=<operator>) its services' VMs bind as
    to sign users in; only the deployer may read its password."""

    __tablename__ = "reader_accounts"


KINDS: dict[str, type[_AccountColumns]] = {"admin": Account, "smtp": RelayAccount, "reader": ReaderAccount}
"""The account model for each purpose of account.requested."""


class SshKey(Base):
    __tablename__ = "ssh_keys"

    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(Text)
    private_key_ref: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DirectoryLink(Base):
    """An operator's own LDAP directory, synced into its subtree."""

    __tablename__ = "directory_links"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parameters: Mapped[dict] = mapped_column(JSON)
    """contracts.directory.DirectoryParameters, without the bind password."""
    password_ref: Mapped[str] = mapped_column(String(120))
    next_sync_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    pending_trigger: Mapped[str] = mapped_column(String(16), default="connect")
    pending_correlation_id: Mapped[str] = mapped_column(String(200), default="")
    pending_causation_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)
    last_sync_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SecretReveal(Base):
    """A secret handed to a requester that may read it only once (the panel's one-time reveal)."""

    __tablename__ = "secret_reveals"

    ref: Mapped[str] = mapped_column(String(120), primary_key=True)
    requester: Mapped[str] = mapped_column(String(64), primary_key=True)
    revealed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DirectoryEntry(Base):
    """One entry of the embedded directory (the database-backed stand-in for OpenLDAP)."""

    __tablename__ = "directory_entries"

    dn_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    """The DN in lower case: DNs compare case-insensitively."""
    dn: Mapped[str] = mapped_column(String(500))
    parent_key: Mapped[str] = mapped_column(String(500), index=True)
    attributes: Mapped[dict] = mapped_column(JSON)


async def admin_services(session: AsyncSession, operator_id: str) -> set[str]:
    """The services the operator has an admin account for: the ones deployed."""
    return set((await session.execute(select(Account.service).where(Account.operator_id == operator_id))).scalars())


async def of_operator(session: AsyncSession, model, operator_id: str) -> list:
    return list((await session.execute(select(model).where(model.operator_id == operator_id))).scalars())
