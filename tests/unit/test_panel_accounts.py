"""Panel accounts: signing up as an operator, logging in and out, throttled log-ins, sessions in
signed cookies, the two roles, and API tokens."""

import re
import sqlite3
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from fedi.cli import app as fedi
from services.panel import accounts, operators
from services.panel.adapters.store import Operator, Revision, User, WebSession
from services.panel.web.security import SESSION_COOKIE
from tests.unit.test_panel_harness import PASSWORD, panel, text_of  # noqa: F401
from tests.unit.test_panel_security import routes


async def test_signing_up_creates_the_operator_and_opens_the_configuration_form(panel):
    browser = panel.browser()
    response = await browser.sign_up("Ann@Acme.Example", "acme")
    assert response.status_code == 303 and response.headers["location"] == "/configure"
    form = await browser.get("/configure")
    assert form.status_code == 200 and "Your configuration" in form.text
    async with panel.context.units.database.session() as session:
        user = (await session.execute(select(User))).scalar_one()
        assert await session.get(Operator, "acme") is not None
    assert (user.email, user.role, user.operator_id) == ("ann@acme.example", "operator", "acme")


async def test_passwords_are_kept_only_as_argon2_hashes(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    async with panel.context.units.database.session() as session:
        user = (await session.execute(select(User))).scalar_one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_the_session_cookie_is_signed_http_only_and_same_site(panel):
    response = await panel.browser().sign_up("ann@acme.example", "acme")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    async with panel.context.units.database.session() as session:
        stored = [row.id_hash for row in (await session.execute(select(WebSession))).scalars()]
    assert value not in stored, "the database keeps only a hash of the session id"


async def test_a_forged_or_tampered_session_cookie_is_not_a_session(panel):
    browser = panel.browser()
    response = await browser.sign_up("ann@acme.example", "acme")
    value = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)).split(";")[0].split("=", 1)[1]
    stranger = panel.browser()
    stranger.client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert (await stranger.get("/configure")).headers["location"] == "/login"


async def test_sign_up_answers_each_bad_field_next_to_it_and_keeps_what_was_typed(panel):
    browser = panel.browser()
    response = await browser.sign_up("not-an-address", "<b>Acme</b>", "short")
    assert response.status_code == 422
    page = response.text
    for field in ("email", "operator_id", "password"):
        assert f'id="f-{field}-problem"' in page, field
    assert 'value="not-an-address"' in page
    assert "&lt;b&gt;Acme&lt;/b&gt;" in page and "<b>Acme</b>" not in page
    assert 'value="short"' not in page, "a password is never sent back"
    async with panel.context.units.database.session() as session:
        assert (await session.execute(select(Operator))).first() is None


async def test_a_taken_operator_name_or_e_mail_address_is_refused(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    page = text_of((await panel.browser().sign_up("ANN@acme.example", "acme")).text)
    assert "an account with this e-mail address exists" in page
    assert "this name is taken" in page


async def test_pages_ask_for_a_log_in_first(panel):
    browser = panel.browser()
    for path in ("/", "/configure", "/deployments", "/review", "/account/delete", "/admin/operators"):
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path


async def test_logging_in_and_out(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    browser = panel.browser()
    assert (await browser.log_in("ann@acme.example")).headers["location"] == "/"
    assert (await browser.get("/")).status_code == 200
    copied = browser.client.cookies.get(SESSION_COOKIE)

    response = await browser.submit("/", "/logout", {})
    assert response.headers["location"] == "/login"
    assert (await browser.get("/")).headers["location"] == "/login"
    thief = panel.browser()
    thief.client.cookies.set(SESSION_COOKIE, copied)
    assert (await thief.get("/")).headers["location"] == "/login", "logging out ends the session, not just the cookie"


async def test_a_wrong_password_does_not_say_which_part_was_wrong(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    wrong_password = await panel.browser().log_in("ann@acme.example", "not the password")
    unknown_user = await panel.browser().log_in("bob@acme.example", "not the password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Wrong e-mail address or password." in wrong_password.text and "Wrong e-mail address or password." in unknown_user.text


async def test_repeated_failed_log_ins_are_throttled_even_with_the_right_password_then(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    attacker = panel.browser()
    for _ in range(panel.context.settings.login_attempts):
        assert (await attacker.log_in("ann@acme.example", "guess")).status_code == 401
    throttled = await panel.browser().log_in("ann@acme.example")
    assert throttled.status_code == 429
    assert "Too many failed log-ins" in throttled.text and int(throttled.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in throttled.cookies


async def test_other_addresses_are_not_throttled_by_one_addresss_failures(panel):
    await panel.browser().sign_up("ann@acme.example", "acme")
    await panel.browser().sign_up("bob@blue.example", "blue")
    for _ in range(panel.context.settings.login_attempts):
        await panel.browser().log_in("ann@acme.example", "guess")
    assert (await panel.browser().log_in("bob@blue.example")).status_code == 303


async def test_operators_cannot_open_admin_pages_and_admins_cannot_open_operator_pages(panel):
    operator = panel.browser()
    await operator.sign_up("ann@acme.example", "acme")
    async with panel.context.units.database.session() as session:
        await accounts.create_admin(session, "staff@provider.example", PASSWORD)
    admin = panel.browser()
    assert (await admin.log_in("staff@provider.example")).status_code == 303
    assert (await admin.get("/")).headers["location"] == "/admin/operators"
    assert (await admin.get("/admin/operators")).status_code == 200
    for path in ("/configure", "/deployments", "/review", "/account/delete", "/services/mastodon/disable"):
        assert (await admin.get(path)).status_code == 403, path
    for path in ("/admin/operators", "/admin/operators/acme"):
        assert (await operator.get(path)).status_code == 403, path


def test_fedi_admin_create_makes_the_first_provider_admin(tmp_path):
    result = CliRunner().invoke(
        fedi, ["admin", "create", "staff@provider.example", "--home", str(tmp_path), "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "panel" / "panel.db") as db:
        rows = db.execute("select email, role, operator_id, password_hash from users").fetchall()
    assert [row[:3] for row in rows] == [("staff@provider.example", "provider-admin", None)]
    assert rows[0][3].startswith("$argon2id$")

    refused = CliRunner().invoke(fedi, ["admin", "create", "nobody", "--home", str(tmp_path), "--password-stdin"], input="short\n")
    assert refused.exit_code == 1
    assert "email" in refused.output and "password" in refused.output


async def test_api_tokens_are_kept_only_as_hashes_and_the_api_refuses_a_missing_or_wrong_one(panel, sqlite_url):
    async with panel.context.units.database.session() as session:
        operators_token = await operators.create_operator(session, "acme")  # as `fedi operator create acme` makes it
    ann = await panel.logged_in("ann@blue.example", "blue")
    users_token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    database = Path(sqlite_url.split("///", 1)[1])
    stored = b"".join(path.read_bytes() for path in database.parent.glob(f"{database.name}*"))  # its write-ahead log included
    for token in (operators_token, users_token):
        assert token.encode() not in stored, "an API token is stored in clear"
        assert operators.hash_token(token).encode() in stored, "its hash is what is kept"

    wrong = {"missing": {}, "one character off": {"Authorization": f"Bearer {operators_token[:-1]}x"},
             "the stored hash": {"Authorization": f"Bearer {operators.hash_token(operators_token)}"},
             "not a bearer": {"Authorization": f"Basic {operators_token}"}}
    api = await panel.api()
    configuration = {"domain": "acme.example", "initialUser": {"username": "alice", "displayName": "A", "email": "a@acme.example"},
                     "mastodon": {"enable": True}}
    for method, path in sorted(routes(panel.app)):
        if not path.startswith("/api/"):
            continue
        concrete = path.replace("{deployment_id}", "d-1").replace("{service}", "mastodon").replace("{operator_id}", "acme")
        for how, headers in wrong.items():
            response = await api.request(method, concrete, headers=headers, json=configuration if method == "POST" else None)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", (method, path, how)
    assert await panel.outbox() == [] and panel.planner.asked == [] and panel.vault.asked == []
    async with panel.context.units.database.session() as session:
        assert (await session.execute(select(Revision))).first() is None, "nothing was submitted"
    accepted = await api.post("/api/v1/configuration", json=configuration, headers={"Authorization": f"Bearer {operators_token}"})
    assert accepted.status_code == 202 and len(await panel.outbox()) == 1, "the right token is let in"
