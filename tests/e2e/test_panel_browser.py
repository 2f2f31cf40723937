"""An operator uses the panel in a real browser (Debian's Chromium driven by Playwright) against the
whole stack: signs up, configures Mastodon on a domain, reviews the plan, deploys, watches the
progress reach 100 %, sees the addresses and the admin password once; then switches Mastodon off
keeping its data and reads that in the plan; a change that fails is tried again from its page. The
provider's admin sees the operator, what it holds, the bus's health and the audit log. Another
operator follows a slowed deployment step by step on a page that is never reloaded, and in a second
tab reloaded halfway. Screenshots of these pages are written to screenshots/panel/ (not tracked: each
run writes them anew)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_deploy_flow import stream_messages
from tests.conftest import require

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots" / "panel"
PASSWORD = "a long enough passphrase"
ADMIN = ("staff@provider.example", "the provider's own passphrase")
DEPLOYMENT_TIMEOUT_MS = 120_000
DEPLOYMENT_PAGE = re.compile(r"/deployments/[0-9a-f-]{36}$")
NOTE_WHAT_IS_SHOWN = """
// Notes each state the progress page shows, with the document that shows it (a new one after each
// load), in the tab's sessionStorage, which outlives reloads.
(() => {
  const documentId = performance.timeOrigin + ":" + Math.random();
  function note() {
    const text = (id) => document.getElementById(id).textContent;
    const steps = document.querySelectorAll("#progress li.step");
    const shown = {
      document: documentId, state: text("state"), percent: text("percent"), eta: text("eta"),
      steps: Object.fromEntries(Array.from(steps, (item) => [item.dataset.step, item.classList[1]])),
    };
    const notes = JSON.parse(sessionStorage.getItem("shown") || "[]");
    if (JSON.stringify(notes[notes.length - 1]) !== JSON.stringify(shown)) {
      notes.push(shown);
      sessionStorage.setItem("shown", JSON.stringify(notes));
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("progress");
    if (!section) { return; }
    note();
    new MutationObserver(note).observe(section, {subtree: true, childList: true, characterData: true, attributes: true});
  });
})();
"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        require(f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)

    def shoot(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return shoot


@pytest.fixture(scope="module")
def page(browser, running):
    context = browser.new_context(base_url=running.stack.panel_url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def fill_in_mastodon(page, domain: str, display_name: str = "Alice") -> None:
    """The configuration form filled in for Mastodon on `domain`, with alice as its first user."""
    page.get_by_label("Domain").fill(domain)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("E-mail address").fill(f"alice@{domain}")
    page.get_by_label("Run Mastodon").check()


def shown_by_document(page) -> list[list[dict]]:
    """What the tab's progress page showed (NOTE_WHAT_IS_SHOWN), one list per document loaded, in order."""
    documents: dict[str, list[dict]] = {}
    for note in page.evaluate("JSON.parse(sessionStorage.getItem('shown') || '[]')"):
        documents.setdefault(note["document"], []).append(note)
    return list(documents.values())


def percent(note: dict) -> int:
    return int(note["percent"].removesuffix(" %"))


def states_of(step: str, notes: list[dict]) -> list[str]:
    return [note["steps"][step] for note in notes if step in note["steps"]]


def test_an_operator_signs_up_and_lands_on_the_configuration_form(page, shots):
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_role("navigation").get_by_role("link", name="Sign up").click()
    page.get_by_label("E-mail address").fill("alice@shop.example")
    page.get_by_label("Operator name").fill("shop")
    page.get_by_label("Password").fill(PASSWORD)
    shots(page, "01-sign-up")
    page.get_by_role("button", name="Create my account").click()

    expect(page).to_have_url(re.compile(r"/configure$"))
    expect(page.get_by_role("heading", name="Your configuration")).to_be_visible()


def test_a_mistake_is_answered_next_to_its_field_and_what_was_typed_stays(page, shots):
    from playwright.sync_api import expect

    page.get_by_label("Domain").fill("not a domain <b>")
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Review the plan").click()

    expect(page.locator("#f-domain-problem")).to_be_visible()
    expect(page.get_by_label("Domain")).to_have_value("not a domain <b>")
    expect(page.get_by_label("Username")).to_have_value("alice")
    shots(page, "02-configuration-mistake")


def test_mastodon_on_a_domain_is_reviewed_then_deployed_to_100_percent_with_its_address(page, shots):
    from playwright.sync_api import expect

    fill_in_mastodon(page, "shop.example", display_name="Alice <Shop>")
    page.get_by_label("Run Pixelfed").check()
    shots(page, "03-configuration")
    page.get_by_role("button", name="Review the plan").click()

    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.get_by_role("heading", name="Mastodon")).to_be_visible()
    expect(page.locator(".plan-lines").first).to_contain_text("A virtual machine for Mastodon")
    shots(page, "04-review")
    page.get_by_role("button", name="Deploy").click()

    expect(page).to_have_url(DEPLOYMENT_PAGE)
    expect(page.locator("#percent")).to_have_text("100 %", timeout=DEPLOYMENT_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Your services are running")).to_be_visible()
    expect(page.get_by_role("link", name="https://mastodon.shop.example")).to_be_visible()
    expect(page.get_by_role("link", name="https://pixelfed.shop.example")).to_be_visible()
    shots(page, "05-deployed")


def test_the_admin_password_is_revealed_once_and_never_again(page, running, shots):
    from playwright.sync_api import expect

    deployment = page.url
    page.get_by_role("button", name="Show the Mastodon password once").click()
    password = page.locator("#password").inner_text()
    assert len(password) >= 12
    shots(page, "06-password-once")

    page.goto(deployment)
    expect(page.get_by_text("not shown again")).to_be_visible()
    expect(page.get_by_role("button", name="Show the Mastodon password once")).to_have_count(0)
    for path in ("/", deployment, "/deployments"):
        page.goto(path)
        assert password not in page.content()
    for log in running.stack.logs.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log.name
    assert all(password.encode() not in message.data for message in stream_messages(running.stack))


def test_switching_mastodon_off_keeping_its_data_is_said_in_the_plan(page, shots):
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.get_by_role("link", name="https://mastodon.shop.example")).to_be_visible()
    shots(page, "07-home")
    page.locator("li.service", has_text="Mastodon").get_by_role("link", name="Switch off…").click()
    page.get_by_label("Keep its data").check()
    shots(page, "08-switch-off")
    page.get_by_role("button", name="Show me the plan").click()

    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.locator(".lead")).to_contain_text("Switch off Mastodon, keeping its data")
    kept = page.locator("li.action-keep")
    expect(kept).to_have_count(2)
    expect(kept.filter(has_text="Mastodon's stored media and data are kept")).to_have_count(1)
    expect(kept.filter(has_text="Mastodon's machine is shut down and kept with its disk and database")).to_have_count(1)
    expect(kept.locator(".badge.data-kept")).to_have_text(["Data kept", "Data kept"])
    expect(page.locator("li.action-delete", has_text="deleted for good")).to_have_count(0)
    shots(page, "09-review-switch-off-keep-data")


def test_the_history_and_trace_show_the_deployment(page, shots):
    from playwright.sync_api import expect

    page.goto("/deployments")
    row = page.locator("tr.state-succeeded", has_text="100 %")
    expect(row).to_have_count(1)
    shots(page, "10-history")
    row.get_by_role("link", name="Trace").click()
    expect(page.get_by_text("config.submitted").first).to_be_visible()
    expect(page.get_by_text("deployment.succeeded").first).to_be_visible()
    shots(page, "11-trace")


def test_a_failed_change_is_tried_again_from_its_page_and_reaches_100_percent(page, running, shots):
    from playwright.sync_api import expect

    from sandbox.nixos_target import state

    state.set_failing(running.stack.sandbox / "nixos", ["*"])
    try:
        page.goto("/configure")
        page.get_by_label("Run Mastodon").check()
        page.locator('input[name="mastodon.registrations"][value="closed"]').check()
        page.get_by_role("button", name="Review the plan").click()
        page.get_by_role("button", name="Deploy").click()
        expect(page.get_by_role("heading", name="This deployment failed")).to_be_visible(timeout=DEPLOYMENT_TIMEOUT_MS)
        expect(page.get_by_role("button", name="Go back to the last working configuration")).to_be_visible()
        shots(page, "12-deployment-failed")
    finally:
        state.set_failing(running.stack.sandbox / "nixos", [])
    failed = page.url
    page.get_by_role("button", name="Try again").click()

    expect(page).not_to_have_url(failed)
    expect(page.locator("#percent")).to_have_text("100 %", timeout=DEPLOYMENT_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Your services are running")).to_be_visible()


def test_connecting_a_directory_that_cannot_be_reached_says_so_next_to_its_address_and_keeps_nothing(page, shots):
    from playwright.sync_api import expect

    from runtime.nats_server import free_port

    page.goto("/")
    page.get_by_role("link", name="Your directory").click()
    page.get_by_label("Directory URL").fill(f"ldap://127.0.0.1:{free_port()}")
    page.get_by_label("Bind DN").fill("cn=reader,dc=acme,dc=example")
    page.get_by_label("Bind password").fill("their-reader-password")
    page.get_by_label("Base DN").fill("dc=acme,dc=example")
    page.get_by_role("button", name="Check connection").click()

    expect(page.locator("#outcome")).to_contain_text("cannot reach")
    expect(page.locator("#f-url-problem")).to_contain_text("cannot reach")
    expect(page.get_by_label("Directory URL")).to_have_value(re.compile(r"^ldap://127\.0\.0\.1:\d+$"))
    expect(page.get_by_label("Bind password")).to_have_value("")
    expect(page.get_by_text("No directory of yours is connected yet.")).to_be_visible()
    shots(page, "13-directory-unreachable")


def test_the_providers_admin_sees_the_operator_and_its_deployment(browser, running, shots):
    from playwright.sync_api import expect

    created = subprocess.run(
        [sys.executable, "-m", "fedi", "admin", "create", ADMIN[0], "--password-stdin"],
        input=ADMIN[1] + "\n", capture_output=True, text=True, timeout=60,
        env=os.environ | {"FEDI_HOME": str(running.stack.home)},
    )
    assert created.returncode == 0, created.stderr
    context = browser.new_context(base_url=running.stack.panel_url, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("E-mail address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/admin/operators$"))
    row = page.locator("tr", has_text="shop")
    expect(row).to_contain_text("succeeded")
    shots(page, "14-admin-operators")
    row.get_by_role("link", name="shop").click()
    expect(page.get_by_text("alice@shop.example")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Domain shop.example; services: Mastodon, Pixelfed.")
    expect(page.locator("#holds")).to_contain_text("2 VMs")
    shots(page, "15-admin-operator")

    page.get_by_role("navigation").get_by_role("link", name="Bus health").click()
    expect(page.locator("#consumers tr.consumer").first).to_be_visible()
    expect(page.locator("#consumers")).to_contain_text("orchestrator-plan-created")
    shots(page, "16-admin-bus-health")
    page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
    page.get_by_label("Who").fill("alice@shop.example")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#audit")).to_contain_text("deployment.retried")
    expect(page.locator("#audit")).to_contain_text("credential.revealed")
    assert PASSWORD not in page.content()
    shots(page, "17-admin-audit-log")
    context.close()


def test_each_step_turns_done_live_and_a_reload_halfway_shows_what_is_done_and_carries_on_live(browser, running, shots):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=running.stack.panel_url, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    context.add_init_script(NOTE_WHAT_IS_SHOWN)
    watching = context.new_page()
    streams: list[str] = []
    watching.on("request", lambda request: request.resource_type == "eventsource" and streams.append(request.url))
    watching.goto("/signup")
    watching.get_by_label("E-mail address").fill("bo@harbour.example")
    watching.get_by_label("Operator name").fill("harbour")
    watching.get_by_label("Password").fill(PASSWORD)
    watching.get_by_role("button", name="Create my account").click()
    fill_in_mastodon(watching, "harbour.example")
    watching.get_by_role("button", name="Review the plan").click()
    step = {kind: f"harbour/mastodon/{kind}" for kind in ("vm", "bucket", "account", "dns/host", "nixos")}

    def row(page, kind: str):
        return page.locator(f'li.step[data-step="{step[kind]}"]')

    # The orchestrator starts once the page shows the plan, so every step is seen waiting first; the
    # new VM then boots until guest_agent_boot is set back, so the page is seen halfway for certain.
    with running.proxmox_latency(guest_agent_boot=600):
        with running.stopped("orchestrator"):
            watching.get_by_role("button", name="Deploy").click()
            expect(watching).to_have_url(DEPLOYMENT_PAGE)
            for kind in step:
                expect(row(watching, kind)).to_have_class("step pending", timeout=DEPLOYMENT_TIMEOUT_MS)
            reloading = context.new_page()
            reloading.goto(watching.url)
        expect(row(watching, "bucket")).to_have_class("step done", timeout=DEPLOYMENT_TIMEOUT_MS)
        expect(row(watching, "account")).to_have_class("step done", timeout=DEPLOYMENT_TIMEOUT_MS)
        expect(row(watching, "vm")).to_have_class("step running", timeout=DEPLOYMENT_TIMEOUT_MS)
        shots(watching, "18-deployment-in-progress")

        rendered = reloading.reload().text()
        assert re.search(r'<strong id="state">In progress</strong>\s*<span id="percent">([1-9]\d?) %</span>', rendered), rendered
        rendered_states = {step_id: state for state, step_id in re.findall(r'<li class="step (\w+)" data-step="([^"]+)"', rendered)}
        assert [rendered_states[step[kind]] for kind in step] == ["running", "done", "done", "pending", "pending"]
        running.proxmox_control("latency", {"guest_agent_boot": 0})
        for page in (watching, reloading):
            expect(page.get_by_role("heading", name="Your services are running")).to_be_visible(timeout=DEPLOYMENT_TIMEOUT_MS)
    expect(watching.get_by_role("link", name="https://mastodon.harbour.example")).to_be_visible()

    live, *after_the_end = shown_by_document(watching)
    percents = [percent(note) for note in live]
    assert percents[-1] == 100 and percents == sorted(percents), f"one document, without a reload, showed {percents}"
    assert any(0 < value < 100 for value in percents), f"no value between 0 and 100 was shown: {percents}"
    for kind in step:
        states = states_of(step[kind], live)
        assert states[0] == "pending" and states[-1] == "done", (kind, states)
    time_left = [note["eta"] for note in live if note["state"] == "In progress"]
    assert any(re.fullmatch(r"(less than a minute|about \d+ minutes?) left", eta) for eta in time_left), time_left
    assert len(after_the_end) <= 1 and all(note["state"] == "Succeeded" for notes in after_the_end for note in notes), after_the_end
    assert f"{watching.url}/events" in streams, "the live updates came over Server-Sent Events"

    _, reloaded, *_ = shown_by_document(reloading)
    assert 0 < percent(reloaded[0]) < 100 and percent(reloaded[-1]) == 100, [percent(note) for note in reloaded]
    for kind in ("vm", "dns/host", "nixos"):
        states = states_of(step[kind], reloaded)
        assert states[0] != "done" and states[-1] == "done", (kind, states)
    context.close()
