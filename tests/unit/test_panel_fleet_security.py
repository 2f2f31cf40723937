"""Security of provider updates in the panel: an operator reaches nothing of another operator's
notices, updates or choices through any of the new pages or API routes; the campaign pages are for
provider admins only and the maintenance pages for operators only; whatever an admin typed or a
notice carried is shown as text, never markup. (Every form's CSRF check: test_panel_security.)"""

import re
from datetime import timedelta

from contracts.fleet import CampaignOperatorFailed, CampaignOperatorStatus, MaintenanceWindowChosen
from tests.unit.test_panel_campaigns import NOW, campaign_form, status
from tests.unit.test_panel_harness import panel, text_of  # noqa: F401
from tests.unit.test_panel_maintenance import notified, part_event
from tests.unit.test_panel_security import SCRIPT, routes

NEW = ("/maintenance", "/admin/campaigns", "/api/v1/maintenance")
BOBS = ("Blue's private update", "a reason only blue may read", "blue/mastodon/vm: only blue's", "Tuesdays")


async def test_operator_a_reaches_nothing_of_operator_bs_updates_through_any_new_route(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    bob = await panel.logged_in("bob@blue.example", "blue")
    await panel.apply(notified(), notified("blue", "c-blue", title=BOBS[0], reason=BOBS[1]),
                      part_event(CampaignOperatorFailed, "blue", "c-blue", deployment_id="d-blue", reason=BOBS[2]))
    await bob.submit("/maintenance", "/maintenance/window", {"day": "tuesday", "start": "01:00", "duration_minutes": "60", "timezone": "UTC"})
    panel.fleet.campaigns = [status(campaign_id="c-blue", title=BOBS[0])]
    token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)
    before = await panel.outbox()
    assert "Maintenance 1 new" in " ".join(text_of((await ann.get("/")).text).split()), "only Ann's own notice is counted"

    tried = set()
    for method, path in sorted(routes(panel.app)):
        if not path.startswith(NEW):
            continue
        tried.add((method, path))
        concrete = path.replace("{campaign_id}", "c-blue")
        if path.startswith("/api/"):
            response = await api.request(method, concrete, json={"kind": "apply_now", "campaign_id": "c-blue"})
        elif method == "POST":
            response = await ann.submit("/maintenance", concrete, {"defer_until": (NOW + timedelta(days=2)).date().isoformat(), "action": "cancel",
                                                                  **campaign_form()})
        else:
            response = await ann.get(concrete)
        if "{" in path or path.startswith(("/admin", "/api/v1/maintenance/")):
            assert response.status_code in (403, 404), (method, path, response.status_code)
        for thing in BOBS:
            assert thing not in response.text, (method, path, thing)

    assert {path for _, path in tried} == {
        "/maintenance", "/maintenance/window", "/maintenance/{campaign_id}/apply-now", "/maintenance/{campaign_id}/defer",
        "/admin/campaigns", "/admin/campaigns/new", "/admin/campaigns/preview", "/admin/campaigns/{campaign_id}",
        "/admin/campaigns/{campaign_id}/control", "/api/v1/maintenance", "/api/v1/maintenance/choice"}
    after = await panel.outbox()
    assert [m for m in after[len(before):] if isinstance(m, MaintenanceWindowChosen) or m.operator_id in ("blue", "_fleet")] == []
    own = (await api.get("/api/v1/maintenance")).text
    assert "Fediversity 25.05" in own and not any(thing in own for thing in BOBS)


async def test_campaign_pages_are_for_provider_admins_and_maintenance_pages_for_operators(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    staff = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    panel.fleet.campaigns = [status()]
    for path in ("/admin/campaigns", "/admin/campaigns/new", "/admin/campaigns/c1"):
        assert (await ann.get(path)).status_code == 403, path
    for path in ("/admin/campaigns/preview", "/admin/campaigns", "/admin/campaigns/c1/control"):
        assert (await ann.submit("/maintenance", path, {**campaign_form(), "action": "pause"})).status_code == 403, path
    assert (await staff.get("/maintenance")).status_code == 403
    assert (await staff.submit("/admin/campaigns/new", "/maintenance/window", {"day": "monday"})).status_code == 403
    token = re.search(r'id="token" class="secret">([^<]+)<', (await staff.submit("/account/token", "/account/token", {})).text).group(1)
    assert (await (await panel.api(token)).get("/api/v1/maintenance")).status_code == 403
    assert panel.fleet.asked == [] and await panel.outbox() == []


async def test_text_typed_by_an_admin_or_carried_by_a_notice_is_shown_as_text(panel):
    ann = await panel.logged_in("ann@acme.example", "acme")
    staff = await panel.logged_in("staff@provider.example", "", role="provider-admin")
    await panel.apply(notified(title=SCRIPT, reason=SCRIPT, changes=(SCRIPT,)), notified(campaign_id="c2", title=SCRIPT),
                      part_event(CampaignOperatorFailed, deployment_id="d-1", reason=SCRIPT))
    attack = campaign_form(title=SCRIPT, reason=SCRIPT, policy_changes=f'release: "{SCRIPT}"')
    panel.fleet.campaigns = [status(title=SCRIPT, reason=SCRIPT, state_reason=SCRIPT, operators=(
        CampaignOperatorStatus(operator_id="acme", wave=0, state="failed", planned_start=None, choice=None, deployment_id=None,
                               reason=SCRIPT, changes=(SCRIPT,), downtime_minutes=1),))]
    pages = [
        await ann.get("/maintenance"),
        await ann.submit("/maintenance", "/maintenance/window", {"day": SCRIPT, "start": SCRIPT, "duration_minutes": SCRIPT, "timezone": SCRIPT}),
        await ann.submit("/maintenance", "/maintenance/c2/defer", {"defer_until": SCRIPT}),
        await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", attack),
        await staff.submit("/admin/campaigns/new", "/admin/campaigns/preview", {**attack, "notice_days": SCRIPT}),
        await staff.get("/admin/campaigns"),
        await staff.get("/admin/campaigns/c1"),
    ]
    for page in pages:
        assert "<script>alert" not in page.text, page.url
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page.text, page.url
