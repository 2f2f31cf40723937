"""A fleet-wide update in a real browser (Debian's Chromium driven by Playwright) on the whole stack:
a provider admin writes an update, previews who it affects and sends the notices; the operator, who
has a deployment, sees the notice in the navigation and on the maintenance page and picks a weekly
window; the provider's dashboard, left open, refreshes itself and shows that choice and the new
planned start. Then a second update runs for real, wave by wave, with one operator's NixOS activation
failing, while the provider watches its page. Screenshots go to screenshots/panel/ (campaign-*.png)."""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fedi.stack import Stack
from runtime.nats_server import free_port
from sandbox.nixos_target import state
from tests.e2e.conftest import Running, deploy_all, mastodon, mastodon_and_pixelfed
from tests.e2e.test_panel_browser import ADMIN, PASSWORD, SCREENSHOTS, browser  # noqa: F401

pytestmark = pytest.mark.e2e

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TODAY = datetime.now(UTC).date()
DEFAULT_DAY = DAYS[(TODAY + timedelta(days=3)).weekday()]
"""The provider's default window is days away, so nothing starts while the test runs."""
CHOSEN = TODAY + timedelta(days=5)
CHOSEN_DAY = DAYS[CHOSEN.weekday()]
EXPECTED_START = datetime.combine(CHOSEN, time(3, 0), ZoneInfo("Europe/Amsterdam")).astimezone(UTC)
NEWCOMERS = {"north": "Asia/Tokyo", "south": "America/Sao_Paulo"}
"""Operators who join after the first update, each in a time zone of its own."""


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    policy = home / "policy.yaml"
    policy.write_text(f'maintenance:\n  default_window: {{day: {DEFAULT_DAY}, start: "12:00", duration_minutes: 240, timezone: UTC}}\n')
    stack = Stack(home, panel_port=free_port(), env={
        "FEDI_CONFIGURATOR_POLICY_FILE": str(policy), "FEDI_CONFIGURATOR_CAMPAIGN_TICK_SECONDS": "1",
        "FEDI_PANEL_CAMPAIGN_REFRESH_SECONDS": "1",
    })
    try:
        stack.start()
        yield Running(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("campaign-*.png"):
        old.unlink()

    def shoot(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"campaign-{name}.png"), full_page=True)

    return shoot


def new_page(browser, running):  # noqa: F811
    context = browser.new_context(base_url=running.stack.panel_url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    return context.new_page()


@pytest.fixture(scope="module")
def operator(browser, running):  # noqa: F811
    """shop, signed up in the browser, with Mastodon and Pixelfed deployed."""
    page = new_page(browser, running)
    page.goto("/signup")
    page.get_by_label("E-mail address").fill("alice@shop.example")
    page.get_by_label("Operator name").fill("shop")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.goto("/account/token")
    page.get_by_role("button", name="Make a new token").click()
    auth = {"Authorization": f"Bearer {page.locator('#token').inner_text()}"}
    response = running.submit(auth, mastodon_and_pixelfed("shop.example"))
    assert response.status_code == 202, response.text
    assert running.wait_for(auth, response.json()["deployment_id"], timeout=120)["state"] == "succeeded"
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def provider(browser, running):  # noqa: F811
    created = subprocess.run(
        [sys.executable, "-m", "fedi", "admin", "create", ADMIN[0], "--password-stdin"],
        input=ADMIN[1] + "\n", capture_output=True, text=True, timeout=60, env=os.environ | {"FEDI_HOME": str(running.stack.home)},
    )
    assert created.returncode == 0, created.stderr
    page = new_page(browser, running)
    page.goto("/login")
    page.get_by_label("E-mail address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def newcomers(running) -> dict[str, dict]:
    """Two more operators, each with Mastodon deployed; their API tokens."""
    with ThreadPoolExecutor(1) as aside:  # Playwright's sync API keeps an event loop running on this thread
        tokens = dict(zip(NEWCOMERS, aside.map(running.operator, NEWCOMERS), strict=True))
    ended = deploy_all(running, tokens, mastodon)
    assert {name: view["state"] for name, view in ended.items()} == dict.fromkeys(NEWCOMERS, "succeeded"), ended
    return tokens


def new_update(provider, title: str, why: str, changes: str, **fields: str) -> None:
    """The provider's form for a new update, filled in (labels as keys of `fields`), not yet previewed."""
    provider.get_by_role("navigation").get_by_role("link", name="Updates").click()
    provider.get_by_role("link", name="New update…").click()
    provider.get_by_label("Title").fill(title)
    provider.get_by_label("Why").fill(why)
    provider.get_by_label("Notice in days").fill("0")
    provider.get_by_label("Policy changes (YAML)").fill(changes)
    for label, value in fields.items():
        provider.get_by_label(label).fill(value)


def reloaded_until(page, path: str, shown):
    """`shown` (a locator), once the page at `path`, reloaded every half second for up to 30 s, shows it."""
    page.goto(path)
    for _ in range(60):
        if shown.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    return shown


def open_now(timezone: str) -> dict:
    """A weekly window of four hours that opened an hour ago in that time zone."""
    opened = datetime.now(ZoneInfo(timezone)) - timedelta(hours=1)
    return {"day": DAYS[opened.weekday()], "start": f"{opened:%H:%M}", "duration_minutes": 240, "timezone": timezone}


def test_the_provider_previews_an_update_then_sends_its_notices(operator, provider, shots):
    from playwright.sync_api import expect

    new_update(provider, "Fediversity 25.05", "Security fixes in Mastodon and Pixelfed.", 'release: "25.05"')
    shots(provider, "01-new-update")
    provider.get_by_role("button", name="Preview").click()

    expect(provider.locator("#preview-summary")).to_have_text("1 operator to update · 0 whose configuration no longer fits · 0 not affected.")
    expect(provider.locator("#preview tr", has_text="shop")).to_contain_text("NixOS configuration")
    shots(provider, "02-preview")
    provider.get_by_role("button", name="Send notices").click()

    expect(provider).to_have_url(re.compile(r"/admin/campaigns/[0-9a-f-]{36}$"))
    row = provider.locator("tr[data-operator=shop]")
    expect(row).to_contain_text("waiting for its time", timeout=30_000)
    expect(provider.locator("#campaign-state")).to_have_text("running")
    expect(row.locator(".choice")).to_have_text("the provider's default window")
    shots(provider, "03-dashboard-sent")


def test_the_operator_reads_the_notice_and_picks_a_weekly_window(operator, shots):
    from playwright.sync_api import expect

    operator.goto("/")
    link = operator.get_by_role("navigation").get_by_role("link", name=re.compile(r"^Maintenance \d+ new$"))
    expect(link).to_be_visible(timeout=30_000)
    link.click()
    update = operator.locator("article.update", has_text="Fediversity 25.05")
    expect(update).to_contain_text("NixOS configuration")
    expect(update).to_contain_text("Why: Security fixes in Mastodon and Pixelfed.")
    expect(operator.locator(".notice.unread").first).to_be_visible()
    shots(operator, "04-notice")

    operator.get_by_label("Day").select_option(CHOSEN_DAY)
    operator.get_by_label("Start time").fill("03:00")
    operator.get_by_label("Length in minutes").fill("120")
    operator.get_by_label("Time zone").fill("Europe/Amsterdam")
    operator.get_by_role("button", name="Save my window").click()

    expect(operator).to_have_url(re.compile(r"/maintenance$"))
    expect(operator.locator("#window-in-effect")).to_have_text(f"{CHOSEN_DAY.capitalize()}s from 03:00 for 2 hours (Europe/Amsterdam)")
    local = EXPECTED_START.astimezone(ZoneInfo("Europe/Amsterdam"))
    planned = f"{local:%A} {local.day} {local:%B %Y}, 03:00 Europe/Amsterdam ({EXPECTED_START:%H:%M} UTC)"
    reloaded_until(operator, "/maintenance", operator.locator(".planned-start", has_text=planned))  # a notice of its own
    expect(update.locator(".planned-start")).to_have_text(planned)
    shots(operator, "05-window-chosen")


def test_the_providers_open_dashboard_shows_the_choice_and_the_planned_start(provider, running, shots):
    from playwright.sync_api import expect

    row = provider.locator("tr[data-operator=shop]")  # the page left open: it refreshes itself
    expect(row.locator(".choice")).to_have_text(f"own window: {CHOSEN_DAY.capitalize()}s from 03:00 for 2 hours (Europe/Amsterdam)", timeout=30_000)
    expect(row.locator(".planned-start")).to_have_text(f"{EXPECTED_START:%Y-%m-%d %H:%M} UTC", timeout=30_000)
    shots(provider, "06-dashboard-choice")


def test_the_update_and_the_choice_are_in_the_audit_log(running):
    audit = subprocess.run([sys.executable, "-m", "fedi", "audit", "--json"], capture_output=True, text=True, timeout=60,
                           env=os.environ | {"FEDI_HOME": str(running.stack.home)})
    assert audit.returncode == 0, audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    ours = [(r["actor"], r["action"], r["target"]) for r in records if r["action"].startswith(("campaign.", "maintenance."))]
    assert [entry[:2] for entry in ours] == [(ADMIN[0], "campaign.requested"), ("alice@shop.example", "maintenance.window")]
    assert ours[1][2] == "shop" and re.fullmatch(r"[0-9a-f-]{36}", ours[0][2])


def test_the_provider_watches_an_update_run_wave_by_wave_and_a_failed_operator_go_back(operator, provider, newcomers, running, shots):
    from playwright.sync_api import expect

    new_update(provider, "Fediversity 25.11", "A new Mastodon release.", 'release: "25.11"',
               **{"Canary wave": "1", "Growth": "4", "Soak in minutes": "0", "Failure threshold in %": "50"})
    provider.get_by_role("button", name="Preview").click()
    expect(provider.locator("#preview-summary")).to_have_text("3 operators to update · 0 whose configuration no longer fits · 0 not affected.")
    provider.get_by_role("button", name="Send notices").click()

    expect(provider).to_have_url(re.compile(r"/admin/campaigns/[0-9a-f-]{36}$"))
    provider.evaluate("() => { window.neverReloaded = true; }")
    rows = provider.locator("#operators tr.operator")
    expect(rows).to_have_count(3, timeout=30_000)
    waves, left = provider.locator("ol.waves li"), provider.locator("#left li")
    expect(waves).to_have_text(["1 operator · open", "2 operators · not open yet"])
    expect(left).to_have_text(["3 waiting, 0 being updated, 0 updated, 0 failed.", "1 of 2 waves open.",
                               "Operators are updated in their windows as their waves open."])
    wave = {name: int(provider.locator(f"tr[data-operator={name}] td.num").inner_text()) for name in ("shop", *NEWCOMERS)}
    canary = next(name for name, number in wave.items() if number == 1)
    failing = min(name for name in NEWCOMERS if wave[name] == 2)
    succeeding = sorted(set(wave) - {failing})
    nixos = running.stack.sandbox / "nixos"
    state.set_failing(nixos, [f"{failing}-mastodon@25.11"])
    try:
        with state.locked(nixos):  # every NixOS switch waits here: the updates that start stay under way
            for name, timezone in NEWCOMERS.items():
                chosen = running.api.post("/api/v1/maintenance/choice", json={"kind": "window", "window": open_now(timezone)},
                                          headers=newcomers[name])
                assert chosen.status_code == 202, chosen.text
            update = reloaded_until(operator, "/maintenance", operator.locator("article.update", has_text="Fediversity 25.11"))
            update.get_by_role("button", name="Apply now").click()

            under_way = {canary, "shop"}  # the canary's window is open now; shop asked for its update at once
            for name in wave:
                expect(provider.locator(f"tr[data-operator={name}] td .badge")).to_have_text(
                    "being updated" if name in under_way else "waiting for its time", timeout=30_000)
            expect(waves).to_have_text(["1 operator · open", "2 operators · not open yet"])
            expect(left.first).to_have_text(f"{3 - len(under_way)} waiting, {len(under_way)} being updated, 0 updated, 0 failed.")
            shots(provider, "running")
        failed = provider.locator(f"tr[data-operator={failing}]")
        expect(failed.locator(".badge")).to_have_text("failed; back on the last good configuration", timeout=60_000)
        expect(failed.locator(".failure")).to_contain_text(f"the activation of {failing}-mastodon failed")
    finally:
        state.set_failing(nixos, [])
    for name in succeeding:
        expect(provider.locator(f"tr[data-operator={name}] td .badge")).to_have_text("updated", timeout=30_000)
        expect(provider.locator(f"tr[data-operator={name}] .failure")).to_have_text("")
    expect(waves).to_have_text(["1 operator · open", "2 operators · open"])
    expect(provider.locator("#campaign-state")).to_have_text("completed", timeout=30_000)
    expect(left).to_have_text(["0 waiting, 0 being updated, 2 updated, 1 failed.", "2 of 2 waves open.",
                               "Nothing more starts; 1 failed operator is not updated."])
    expect(rows.locator(".planned-start")).to_have_text(["—"] * 3)  # they started when they could, not as first planned
    assert provider.evaluate("() => window.neverReloaded") is True, "the page refreshed itself, never reloaded"
    shots(provider, "completed")
