"""The panel's web application: pages for people, the JSON API for automation, one set of rules."""

from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from contracts.configuration import problems_of

from . import api, operators
from .web import account, admin, auth, campaigns, configure, deployments, directory, maintenance, operations, recovery
from .web.context import Context
from .web.render import SECURITY_HEADERS, Renderer
from .web.security import Cookies, CsrfRefused, Forbidden, LoginRequired, NotFound, TooLarge, guards

STATIC = Path(__file__).resolve().parent / "static"


class SecurityHeaders:
    """Adds the panel's security headers to every response (pages, API, static files, SSE)."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(context: Context) -> FastAPI:
    app = FastAPI(
        title="FediPanel API",
        version="1",
        description="Submit an operator's configuration, review its plan and follow its deployments; choose when "
        "provider updates happen; provider admins see every operator.",
    )
    cookies = Cookies(context)
    render = Renderer(cookies)
    page_guards = guards(context, cookies)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    app.include_router(api.router(context))
    app.include_router(auth.router(context, cookies, render, page_guards))
    app.include_router(account.router(context, render, page_guards))
    app.include_router(configure.router(context, render, page_guards))
    app.include_router(deployments.router(context, render, page_guards))
    app.include_router(recovery.router(context, render, page_guards))
    app.include_router(admin.router(context, render, page_guards))
    app.include_router(maintenance.router(context, render, page_guards))
    app.include_router(directory.router(context, render, page_guards))
    app.include_router(campaigns.router(context, render, page_guards))
    app.include_router(operations.router(context, render, page_guards))

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    async def visitor_of(request: Request):
        return await page_guards.visitor(request)

    @app.exception_handler(RequestValidationError)
    async def field_level_reasons(request: Request, exc: RequestValidationError):
        if not is_api(request):
            return render.page(request, await visitor_of(request), "message.html", status.HTTP_404_NOT_FOUND, title="Not found", text="There is no such page.", link=("/", "Home"))
        problems = problems_of(exc, strip=("body",))
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "the request is not valid", "problems": problems},
        )

    @app.exception_handler(LoginRequired)
    async def login_first(_request: Request, _exc: LoginRequired):
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)

    def message(code: int, title: str, text: str, link=("/", "Home")):
        async def handle(request: Request, _exc: Exception):
            return render.page(request, await visitor_of(request), "message.html", code, title=title, text=text, link=link)

        return handle

    app.add_exception_handler(Forbidden, message(status.HTTP_403_FORBIDDEN, "Not for you", "Your account may not open this page."))
    app.add_exception_handler(NotFound, message(status.HTTP_404_NOT_FOUND, "Not found", "There is no such page, or it is not yours."))
    app.add_exception_handler(
        CsrfRefused,
        message(status.HTTP_403_FORBIDDEN, "Form refused", "This form was not sent from a page of this panel, or it expired. Go back, reload the page and try again."),
    )
    app.add_exception_handler(TooLarge, message(status.HTTP_413_CONTENT_TOO_LARGE, "Too much", "The form sent far more text than any field allows."))
    app.add_exception_handler(
        operators.RemovalRequested,
        message(status.HTTP_409_CONFLICT, "Account being deleted", "You asked to delete your account, so nothing more is deployed."),
    )
    return app
