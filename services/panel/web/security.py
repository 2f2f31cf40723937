"""Who is asking: signed session cookies, CSRF tokens on every form, and role checks for pages.

The session cookie carries a random session id signed with the panel's secret key; the database
keeps only the id's hash, so logging out ends the session for good. Forms carry an HMAC of a
per-session secret (or, before logging in, of a signed per-browser seed), checked on every POST."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from ..accounts import digest
from ..adapters.accounts import Accounts
from ..adapters.maintenance import Maintenance
from ..adapters.store import User
from ..domain.accounts import OPERATOR, PROVIDER_ADMIN
from .context import Context

SESSION_COOKIE = "fedi_session"
VISITOR_COOKIE = "fedi_visitor"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    pass


class NotFound(Exception):
    pass


class CsrfRefused(Exception):
    pass


class TooLarge(Exception):
    pass


@dataclass
class Visitor:
    user: User | None
    csrf_seed: str
    session_id: str | None = None
    new_seed: bool = False
    csrf_key: bytes = b""
    unread: int = 0
    """Notices of updates the operator has not seen yet (shown in the navigation)."""

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.csrf_key, f"csrf:{self.csrf_seed}".encode(), hashlib.sha256).hexdigest()

    @property
    def operator_id(self) -> str:
        assert self.user is not None and self.user.operator_id is not None
        return self.user.operator_id


class Cookies:
    """Signing and setting the panel's two cookies."""

    def __init__(self, context: Context) -> None:
        key = context.settings.secret_key
        self.sessions = URLSafeTimedSerializer(key, salt="fedi-panel-session")
        self.visitors = URLSafeTimedSerializer(key, salt="fedi-panel-visitor")
        self.csrf_key = hashlib.sha256(f"csrf:{key}".encode()).digest()
        self.lifetime = timedelta(hours=context.settings.session_hours)
        self.secure = bool(context.settings.cookie_secure)

    def _unsigned(self, serializer: URLSafeTimedSerializer, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return serializer.loads(value, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None

    def session_id(self, request: Request) -> str | None:
        return self._unsigned(self.sessions, request.cookies.get(SESSION_COOKIE))

    def seed(self, request: Request) -> str | None:
        return self._unsigned(self.visitors, request.cookies.get(VISITOR_COOKIE))

    def _set(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name, value, max_age=int(self.lifetime.total_seconds()), httponly=True, samesite="lax",
            secure=self.secure, path="/",
        )

    def start_session(self, response: Response, session_id: str) -> None:
        self._set(response, SESSION_COOKIE, self.sessions.dumps(session_id))

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure)

    def remember(self, response: Response, visitor: Visitor) -> None:
        """Sets the per-browser seed cookie on the response that first used it."""
        if visitor.new_seed:
            self._set(response, VISITOR_COOKIE, self.visitors.dumps(visitor.csrf_seed))
            visitor.new_seed = False


@dataclass(frozen=True)
class Guards:
    """Page dependencies: anyone (`visitor`), a form with its CSRF token (`form`), anyone logged in
    (`user`, `user_form`), an operator (`operator`, `operator_form`), a provider admin (`admin`,
    `admin_form`)."""

    visitor: object
    form: object
    user: object
    user_form: object
    operator: object
    operator_form: object
    admin: object
    admin_form: object


def guards(context: Context, cookies: Cookies) -> Guards:

    async def visitor(request: Request) -> Visitor:
        session_id = cookies.session_id(request)
        if session_id:
            async with context.units.database.reader() as session:
                found = await Accounts(session).session_of(digest(session_id))
                unread = await Maintenance(session, found[1].operator_id).unread() if found and found[1].operator_id else 0
            if found:
                web_session, user = found
                return Visitor(user, web_session.csrf_secret, session_id, csrf_key=cookies.csrf_key, unread=unread)
        seed = cookies.seed(request)
        if seed:
            return Visitor(None, seed, csrf_key=cookies.csrf_key)
        return Visitor(None, secrets.token_urlsafe(24), new_seed=True, csrf_key=cookies.csrf_key)

    async def checked_form(request: Request, who: Visitor = Depends(visitor)) -> Visitor:
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise TooLarge()
        form = await request.form()
        token = form.get(CSRF_FIELD)
        if not isinstance(token, str) or not hmac.compare_digest(token, who.csrf_token):
            raise CsrfRefused()
        return who

    def role(required: str | None, form: bool):
        async def check(who: Visitor = Depends(checked_form if form else visitor)) -> Visitor:
            if who.user is None:
                raise LoginRequired()
            if required is not None and who.user.role != required:
                raise Forbidden()
            return who

        return check

    return Guards(
        visitor=visitor,
        form=checked_form,
        user=role(None, form=False),
        user_form=role(None, form=True),
        operator=role(OPERATOR, form=False),
        operator_form=role(OPERATOR, form=True),
        admin=role(PROVIDER_ADMIN, form=False),
        admin_form=role(PROVIDER_ADMIN, form=True),
    )
