"""Signing up, logging in and out."""

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse

from .. import accounts
from ..domain.accounts import OPERATOR_NAME_RULE, PASSWORD_MIN, LoginLimit, email_problem, normal_email
from .context import Context
from .render import Renderer
from .security import Cookies, Guards, Visitor

HOME = "/"


def claimed(email: str) -> str:
    """Who a log-in says it is, for the audit log: what was typed, if it is an e-mail address at all
    (a password typed into the wrong field is not kept)."""
    email = normal_email(email)
    return email if email_problem(email) is None else "(not an e-mail address)"


def router(context: Context, cookies: Cookies, render: Renderer, guards: Guards) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    limit = LoginLimit(context.settings.login_attempts, timedelta(seconds=context.settings.login_window_seconds))
    lifetime = timedelta(hours=context.settings.session_hours)

    def home() -> RedirectResponse:
        return RedirectResponse(HOME, status.HTTP_303_SEE_OTHER)

    @pages.get("/signup")
    async def signup_page(request: Request, who: Visitor = Depends(guards.visitor)):
        """Sign up as an operator."""
        return render.page(request, who, "signup.html", values={}, problems={}, rule=OPERATOR_NAME_RULE, minimum=PASSWORD_MIN)

    @pages.post("/signup")
    async def signup(request: Request, who: Visitor = Depends(guards.form)):
        form = await request.form()
        values = {name: str(form.get(name, "")) for name in ("email", "operator_id", "password")}
        try:
            async with context.units.database.session() as session:
                user = await accounts.sign_up(session, values["email"], values["operator_id"], values["password"])
                session_id = await accounts.start_session(session, user, lifetime)
        except accounts.Problems as exc:
            values.pop("password")
            return render.page(
                request, who, "signup.html", status.HTTP_422_UNPROCESSABLE_CONTENT, values=values,
                problems=exc.problems, rule=OPERATOR_NAME_RULE, minimum=PASSWORD_MIN,
            )
        await context.auditor.record(user.email, "signup", user.operator_id or "", client=client_of(request))
        response = RedirectResponse("/configure", status.HTTP_303_SEE_OTHER)
        cookies.start_session(response, session_id)
        return response

    @pages.get("/login")
    async def login_page(request: Request, who: Visitor = Depends(guards.visitor)):
        """Log in."""
        if who.user is not None:
            return home()
        return render.page(request, who, "login.html", email="", problem=None)

    def refused(request: Request, who: Visitor, email: str, exc: Exception):
        if isinstance(exc, accounts.TooManyAttempts):
            minutes = max(1, round(exc.wait.total_seconds() / 60))
            problem = f"Too many failed log-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
            response = render.page(request, who, "login.html", status.HTTP_429_TOO_MANY_REQUESTS, email=email, problem=problem)
            response.headers["Retry-After"] = str(int(exc.wait.total_seconds()))
            return response
        return render.page(
            request, who, "login.html", status.HTTP_401_UNAUTHORIZED, email=email,
            problem="Wrong e-mail address or password.",
        )

    @pages.post("/login")
    async def login(request: Request, who: Visitor = Depends(guards.form)):
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        client = client_of(request)
        try:
            async with context.units.database.session() as session:
                user = await accounts.log_in(session, email, password, client, limit)
                session_id = await accounts.start_session(session, user, lifetime)
        except (accounts.TooManyAttempts, accounts.LoginRefused) as exc:
            reason = "too many failed log-ins" if isinstance(exc, accounts.TooManyAttempts) else "wrong e-mail address or password"
            await context.auditor.record(claimed(email), "login", "", "refused", reason=reason, client=client)
            return refused(request, who, email, exc)
        await context.auditor.record(user.email, "login", user.operator_id or "", role=user.role, client=client)
        response = home()
        cookies.start_session(response, session_id)
        return response

    @pages.post("/logout")
    async def logout(request: Request, who: Visitor = Depends(guards.form)):
        if who.session_id:
            async with context.units.database.session() as session:
                await accounts.end_session(session, who.session_id)
            await context.auditor.record(who.user.email, "logout", who.user.operator_id or "")
        response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        cookies.end_session(response)
        return response

    return pages


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
