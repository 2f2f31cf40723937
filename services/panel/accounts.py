"""Signing up, logging in and out, sessions and API tokens of panel users."""

import asyncio
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.accounts import Accounts
from .adapters.store import Operator, User, UserToken, WebSession, now
from .operators import hash_token as digest
from .domain.accounts import (
    OPERATOR,
    PROVIDER_ADMIN,
    LoginLimit,
    client_limit,
    email_problem,
    normal_email,
    password_problem,
    sign_up_problems,
)


class Problems(ValueError):
    """Field name -> message, shown next to each field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


class LoginRefused(Exception):
    pass


class TooManyAttempts(Exception):
    def __init__(self, wait: timedelta) -> None:
        super().__init__(f"too many failed log-ins; try again in {wait}")
        self.wait = wait


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _decoy() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def _verify(stored_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher().verify, stored_hash, password)
    except VerificationError:
        return False


async def sign_up(session: AsyncSession, email: str, operator_id: str, password: str) -> User:
    """A new operator and the person who runs it, in one transaction."""
    email, operator_id = normal_email(email), operator_id.strip()
    problems = sign_up_problems(email, operator_id, password)
    accounts = Accounts(session)
    if "email" not in problems and await accounts.user_by_email(email):
        problems["email"] = "an account with this e-mail address exists; log in instead"
    if "operator_id" not in problems and await session.get(Operator, operator_id):
        problems["operator_id"] = "this name is taken; choose another"
    if problems:
        raise Problems(problems)
    password_hash = await hash_password(password)
    session.add(Operator(id=operator_id))
    await session.flush()
    user = User(email=email, password_hash=password_hash, role=OPERATOR, operator_id=operator_id)
    session.add(user)
    await session.commit()
    return user


async def create_admin(session: AsyncSession, email: str, password: str) -> User:
    """A provider admin (`fedi admin create`)."""
    email = normal_email(email)
    problems = {k: v for k, v in {"email": email_problem(email), "password": password_problem(password)}.items() if v}
    if not problems and await Accounts(session).user_by_email(email):
        problems["email"] = "an account with this e-mail address exists"
    if problems:
        raise Problems(problems)
    user = User(email=email, password_hash=await hash_password(password), role=PROVIDER_ADMIN)
    session.add(user)
    await session.commit()
    return user


async def log_in(session: AsyncSession, email: str, password: str, client: str, limit: LoginLimit) -> User:
    """The user, if the password matches and neither the address nor the client is throttled."""
    accounts = Accounts(session)
    moment = now()
    keys = {f"email:{normal_email(email)}": limit, f"client:{client}": client_limit(limit)}
    for key, key_limit in keys.items():
        since = key_limit.since(moment)
        wait = key_limit.wait(
            await accounts.failures_since(key, since), await accounts.oldest_failure_since(key, since), moment
        )
        if wait:
            raise TooManyAttempts(wait)
    user = await accounts.user_by_email(normal_email(email))
    # Verify against a decoy when there is no such user, so timing does not tell which addresses exist.
    matches = await _verify(user.password_hash if user else _decoy(), password)
    if not (user and matches):
        await accounts.record_failures(list(keys), moment)
        await accounts.forget_failures_before(moment - limit.window * 2)
        await session.commit()
        raise LoginRefused("wrong e-mail address or password")
    await accounts.forget_failures(f"email:{user.email}")
    await session.commit()
    return user


async def start_session(session: AsyncSession, user: User, lifetime: timedelta) -> str:
    """A new session; returns its id (the cookie carries it signed, the database only its hash)."""
    session_id = secrets.token_urlsafe(32)
    moment = now()
    session.add(
        WebSession(
            id_hash=digest(session_id),
            user_id=user.id,
            csrf_secret=secrets.token_urlsafe(32),
            created_at=moment,
            expires_at=moment + lifetime,
        )
    )
    await session.commit()
    return session_id


async def end_session(session: AsyncSession, session_id: str) -> None:
    await Accounts(session).end_session(digest(session_id))
    await session.commit()


async def create_token(session: AsyncSession, user: User) -> str:
    """An API token for the user (shown once; only its hash is stored)."""
    token = f"fedi_{secrets.token_urlsafe(32)}"
    session.add(UserToken(token_hash=digest(token), user_id=user.id))
    await session.commit()
    return token
