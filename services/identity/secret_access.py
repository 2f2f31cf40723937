"""`secret.get.identity`: a secret's value to the services allowed to read it; the panel (which
reveals an admin password to the operator) gets each value once only."""

from cryptography.fernet import InvalidToken

from contracts.requests import SecretReply, SecretRequest
from runtime import logs
from runtime.secrets import Secrets
from runtime.uow import UnitsOfWork

from .adapters.store import SecretReveal

ONCE_ONLY = ("panel",)
log = logs.get("identity")


def secret_responder(units: UnitsOfWork, secrets_store: Secrets, owner: str = "identity"):
    async def answer(request: SecretRequest) -> SecretReply:
        async with units() as uow:
            try:
                found = await secrets_store.get(uow.session, request.ref)
            except InvalidToken:
                log.error("stored secret cannot be decrypted with the configured keys", ref=request.ref)
                return SecretReply(error="secret cannot be decrypted")
            if found is None:
                return SecretReply(error="no such secret")
            value, allowed = found
            if request.requester not in allowed or request.requester == owner:
                log.warning("secret refused", ref=request.ref, requester=request.requester)
                return SecretReply(error=f"{request.requester} may not read this secret")
            if request.requester in ONCE_ONLY:
                if await uow.session.get(SecretReveal, (request.ref, request.requester)) is not None:
                    log.warning("secret already revealed", ref=request.ref, requester=request.requester)
                    return SecretReply(error=f"this secret was already revealed to {request.requester} once")
                uow.session.add(SecretReveal(ref=request.ref, requester=request.requester))
                await uow.commit()
        log.info("secret handed out", ref=request.ref, requester=request.requester)
        return SecretReply(value=value)

    return answer
