"""The panel in-process for unit tests: its real app and SQLite database, with fake bus ports (plan
preview, secrets, stream), and a client that behaves like a browser (cookies, CSRF tokens from the
page it posts from). Fixtures only; the tests are in the other test_panel_* modules."""

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import services.panel
from contracts import Message, decode
from runtime.db import Database
from runtime.uow import UnitsOfWork
from services.panel import projections
from services.panel.adapters.fakes import FakeAuditor, FakeBusWatch, FakeDirectory, FakeFleet, FakePlanner, FakeTrail, FakeVault
from services.panel import accounts
from services.panel.adapters.store import Base, Operator, User
from services.panel.domain.accounts import OPERATOR
from services.panel.app import create_app
from services.panel.settings import Settings
from services.panel.web.context import Context
from services.panel.web.security import SESSION_COOKIE, Cookies

MIGRATIONS = Path(services.panel.__file__).parent / "migrations"
PASSWORD = "correct horse battery staple"
_HASH = ""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def configuration_form(domain: str = "acme.example", **overrides: str) -> dict[str, str]:
    """What a browser posts for Mastodon on `domain` (checkboxes absent are off)."""
    form = {
        "domain": domain,
        "initialUser.username": "alice",
        "initialUser.displayName": "Alice Example",
        "initialUser.email": f"alice@{domain}",
        "mastodon.enable": "on",
        "mastodon.registrations": "approval",
        "mastodon.dataOnDisable": "keep",
        "peertube.maxUploadGib": "4",
        "peertube.transcoding": "on",
        "pixelfed.maxPhotoMib": "15",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)))


def words(page: str) -> str:
    """The page's visible text with its whitespace collapsed, as a reader sees it."""
    return " ".join(text_of(page).split())


class Browser:
    """Keeps cookies like a browser, and posts forms with the CSRF token of the page they are on."""

    def __init__(self, app) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://panel.test")

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def token(self, page: str) -> str:
        found = CSRF.search((await self.get(page)).text)
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    async def submit(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        """Opens `page`, then posts its form to `action` as the browser would."""
        return await self.client.post(action, data={"csrf_token": await self.token(page), **data})

    async def sign_up(self, email: str, operator: str, password: str = PASSWORD) -> httpx.Response:
        return await self.submit("/signup", "/signup", {"email": email, "operator_id": operator, "password": password})

    async def log_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.submit("/login", "/login", {"email": email, "password": password})

    async def configure(self, form: dict[str, str]) -> httpx.Response:
        return await self.submit("/configure", "/configure", form)

    async def deploy_reviewed(self) -> httpx.Response:
        review = (await self.get("/review")).text
        reviewed = re.search(r'name="reviewed" value="([^"]+)"', review).group(1)
        return await self.client.post("/deploy", data={"csrf_token": CSRF.search(review).group(1), "reviewed": reviewed})


@dataclass
class PanelUnderTest:
    context: Context
    app: object
    browsers: list[Browser] = field(default_factory=list)

    @property
    def planner(self) -> FakePlanner:
        return self.context.planner

    @property
    def vault(self) -> FakeVault:
        return self.context.vault

    @property
    def fleet(self) -> FakeFleet:
        return self.context.fleet

    @property
    def auditor(self) -> FakeAuditor:
        return self.context.auditor

    @property
    def watch(self) -> FakeBusWatch:
        return self.context.watch

    @property
    def directory(self) -> FakeDirectory:
        return self.context.directory

    def browser(self) -> Browser:
        self.browsers.append(Browser(self.app))
        return self.browsers[-1]

    async def logged_in(self, email: str, operator: str, role: str = OPERATOR) -> Browser:
        """A browser with a session of a user made directly (for tests not about signing up: argon2
        hashing is slow on purpose, so the hash is made once per test run)."""
        global _HASH
        _HASH = _HASH or await accounts.hash_password(PASSWORD)
        async with self.context.units.database.session() as session:
            if role == OPERATOR:
                session.add(Operator(id=operator))
                await session.flush()
            user = User(email=email, password_hash=_HASH, role=role, operator_id=operator if role == OPERATOR else None)
            session.add(user)
            await session.commit()
            session_id = await accounts.start_session(session, user, Cookies(self.context).lifetime)
        browser = self.browser()
        browser.client.cookies.set(SESSION_COOKIE, Cookies(self.context).sessions.dumps(session_id))
        return browser

    async def api(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://panel.test", headers=headers)

    async def outbox(self) -> list[Message]:
        """Messages the panel queued for the bus (no relay runs here, so nothing leaves)."""
        outbox = self.context.units.outbox
        async with self.context.units.database.session() as session:
            rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
        return [decode(row.payload) for row in rows]

    async def apply(self, *events: Message) -> None:
        """Events arriving from the bus, each handled in its own transaction as the consumers do."""
        for event in events:
            async with self.context.units() as uow:
                await projections.HANDLERS[type(event)](event, uow)
                await uow.commit()


@pytest.fixture
async def panel(sqlite_url):
    database = Database(sqlite_url)
    await database.migrate(MIGRATIONS)
    settings = Settings(login_attempts=3, live_poll_seconds=0.05)
    context = Context(
        units=UnitsOfWork(database, Base.metadata), settings=settings, planner=FakePlanner(), vault=FakeVault(), trail=FakeTrail(),
        fleet=FakeFleet(), auditor=FakeAuditor(), watch=FakeBusWatch(), directory=FakeDirectory(),
    )
    under_test = PanelUnderTest(context, create_app(context))
    yield under_test
    for browser in under_test.browsers:
        await browser.client.aclose()
    await database.close()
