"""Secrets at rest: encrypted in the owner's database, handed out by reference over request/reply
to allowed services only. Events carry references (`secret://<owner>/<id>`), never values."""

import base64
import hashlib
import uuid
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, delete, insert, select, update

from contracts.requests import SecretReply, SecretRequest

from . import logs
from .settings import SecretStoreSettings

log = logs.get("secrets")


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


class SecretBox:
    """Encrypts with a key derived from the service's configured secret key; during a key rotation
    it still decrypts what the previous keys encrypted."""

    def __init__(self, secret_key: str, previous_keys: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([_fernet(key) for key in (secret_key, *previous_keys)])
        self.rotating = bool(previous_keys)
        """Whether the key was changed: what the previous keys encrypted is still to be re-encrypted."""

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()

    def rotate(self, token: bytes) -> bytes:
        """The same value, encrypted under the current key."""
        return self._fernet.rotate(token)


def secrets_table(metadata: MetaData) -> Table:
    return Table(
        "secrets",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("ciphertext", LargeBinary, nullable=False),
        Column("allowed", String(200), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


class Secrets:
    """One service's secret store (in its own database)."""

    def __init__(self, owner: str, table: Table, box: SecretBox) -> None:
        self.owner = owner
        self.table = table
        self.box = box

    async def put(self, session, value: str, allowed: tuple[str, ...]) -> str:
        """Stores `value` in the caller's transaction; returns its reference."""
        secret_id = str(uuid.uuid4())
        await session.execute(
            insert(self.table).values(
                id=secret_id,
                ciphertext=self.box.encrypt(value),
                allowed=",".join(allowed),
                created_at=datetime.now(UTC),
            )
        )
        return f"secret://{self.owner}/{secret_id}"

    async def get(self, session, ref: str) -> tuple[str, tuple[str, ...]] | None:
        prefix = f"secret://{self.owner}/"
        if not ref.startswith(prefix):
            return None
        row = (await session.execute(select(self.table).where(self.table.c.id == ref.removeprefix(prefix)))).first()
        if row is None:
            return None
        return self.box.decrypt(row.ciphertext), tuple(row.allowed.split(","))

    async def delete(self, session, ref: str) -> bool:
        """Removes a secret in the caller's transaction; False when there was none."""
        prefix = f"secret://{self.owner}/"
        if not ref.startswith(prefix):
            return False
        result = await session.execute(delete(self.table).where(self.table.c.id == ref.removeprefix(prefix)))
        return result.rowcount > 0

    async def rotate(self, session) -> int:
        """Re-encrypts every stored secret under the current key (in the caller's transaction); returns how many."""
        rows = (await session.execute(select(self.table.c.id, self.table.c.ciphertext))).all()
        for row in rows:
            await session.execute(
                update(self.table).where(self.table.c.id == row.id).values(ciphertext=self.box.rotate(row.ciphertext))
            )
        return len(rows)

    async def reencrypt_after_key_change(self, sessions) -> int:
        """At start-up after a key change (the old keys listed): every stored secret re-encrypted
        under the current key, in one transaction; returns how many."""
        if not self.box.rotating:
            return 0
        async with sessions() as session:
            count = await self.rotate(session)
            await session.commit()
        log.info("secrets re-encrypted under the current key", owner=self.owner, secrets=count)
        return count

    def responder(self, sessions):
        """The `secret.get.<owner>` answer: the value to allowed requesters, nothing to others."""

        async def answer(request: SecretRequest) -> SecretReply:
            async with sessions() as session:
                try:
                    found = await self.get(session, request.ref)
                except InvalidToken:
                    log.error("stored secret cannot be decrypted with the configured key", ref=request.ref)
                    return SecretReply(error="secret cannot be decrypted")
            if found is None:
                return SecretReply(error="no such secret")
            value, allowed = found
            if request.requester not in allowed:
                log.warning("secret refused", ref=request.ref, requester=request.requester)
                return SecretReply(error=f"{request.requester} may not read this secret")
            log.info("secret handed out", ref=request.ref, requester=request.requester)
            return SecretReply(value=value)

        return answer


def secret_store(owner: str, table: Table, settings: SecretStoreSettings) -> Secrets:
    """A service's store under its configured key, still reading what the previous keys encrypted."""
    return Secrets(owner, table, SecretBox(settings.secret_key, tuple(settings.previous_secret_keys)))
