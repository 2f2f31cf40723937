"""Rendering pages: Jinja2 templates (autoescaped), the visitor's CSRF token in every page, and
headers that keep pages out of caches and scripts to the panel's own files."""

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from ..domain import fleet_words, wording
from ..domain.resource_use import holdings_words
from .security import CSRF_FIELD, Cookies, Visitor

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def templates() -> Jinja2Templates:
    environment = Jinja2Templates(directory=TEMPLATES)
    environment.env.globals.update(
        service_name=wording.service_name, csrf_field=CSRF_FIELD, origin=fleet_words.origin_words,
    )
    environment.env.filters["bytes"] = human_bytes
    environment.env.filters["holdings"] = holdings_words
    environment.env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
    return environment


def human_bytes(count: int | None) -> str:
    value = float(count or 0)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


class Renderer:
    def __init__(self, cookies: Cookies) -> None:
        self.cookies = cookies
        self.templates = templates()

    def page(self, request: Request, visitor: Visitor, name: str, status: int = 200, **context) -> Response:
        response = self.templates.TemplateResponse(
            request, name, {"visitor": visitor, "csrf": visitor.csrf_token, **context}, status_code=status
        )
        self.cookies.remember(response, visitor)
        response.headers["Cache-Control"] = "no-store"
        return response

