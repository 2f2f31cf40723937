"""An operator connects their own LDAP directory from "Your directory": a form with labels and help
from the directory parameters, a check that says what identity reached or why it could not (and
saves nothing), a connect, "Sync now", and every sync's report, newest first. The bind password goes
to identity only: never in a page, the panel's database, the outbox or the audit log. The JSON API
does the same."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from contracts.commands import DirectorySyncRequested
from contracts.directory import DirectoryParameters, MissingGroup
from contracts.events import DirectoryConnected, DirectoryRemoved, DirectorySyncCompleted, DirectorySyncFailed
from services.panel.adapters.directory import DirectoryConnection, DirectorySync
from services.panel.adapters.store import Base
from tests.unit.test_panel_harness import panel, words  # noqa: F401

THEIR_PASSWORD = "their-directory-password"
WRONG_PASSWORD = "not-the-right-one-at-all"
NOW = datetime.now(UTC)
MAPPING = "staff: mastodon=moderators, pixelfed=users\nit: mastodon=admins"



def field(page: str, name: str) -> str:
    """The HTML of one form field, from its wrapper to the next."""
    start = page.rindex('<div class="field', 0, page.index(f'id="f-{name}"'))
    return page[start:page.index("</div>", start)]


def typed(password: str = THEIR_PASSWORD, **overrides: str) -> dict[str, str]:
    return {
        "url": "ldaps://ldap.acme.example", "bind_dn": "cn=reader,dc=acme,dc=example", "bind_password": password,
        "base_dn": "dc=acme,dc=example", "user_filter": "", "group_filter": "", "uid_attribute": "", "mapping": MAPPING,
    } | overrides


PARAMETERS = DirectoryParameters(
    url="ldaps://ldap.acme.example", bind_dn="cn=reader,dc=acme,dc=example", base_dn="dc=acme,dc=example",
    mapping={"staff": {"mastodon": "moderators", "pixelfed": "users"}, "it": {"mastodon": "admins"}},
)


def identity_event(model, after: timedelta = timedelta(0), **fields):
    return model(correlation_id="directory/acme/1", operator_id="acme", producer="identity", occurred_at=NOW + after, **fields)


def completed(trigger: str = "connect", after: timedelta = timedelta(0), **counts) -> DirectorySyncCompleted:
    values = dict(users_total=2, users_added=2, users_updated=0, users_removed=0, memberships_added=3, memberships_removed=0,
                  duration_seconds=0.42) | counts
    return identity_event(DirectorySyncCompleted, after, trigger=trigger, **values)


@pytest.fixture
async def ann(panel):  # noqa: F811
    return await panel.logged_in("ann@acme.example", "acme")


async def test_the_form_has_labels_and_help_from_the_directory_parameters_and_is_linked_from_the_navigation(panel, ann):
    home = await ann.get("/")
    page = await ann.get("/directory")

    assert 'href="/directory"' in home.text
    assert page.status_code == 200
    shown = words(page.text)
    for label in ("Directory URL", "Bind DN", "Bind password", "Base DN", "User filter", "Group filter", "Login name attribute",
                  "Your groups and their roles"):
        assert f">{label}</label>" in page.text, label
    for help_text in ("ldap:// or ldaps:// URL of the operator's directory.", "The account identity reads with.",
                      "Where users and groups are searched.", "LDAP filter selecting the users to sync.",
                      "The attribute holding a user's login name.", "members get that role in that service"):
        assert help_text in shown, help_text
    assert 'type="password"' in field(page.text, "bind_password")
    assert 'value="(objectClass=inetOrgPerson)"' in field(page.text, "user_filter"), "defaults filled in"
    assert "staff: mastodon=moderators, pixelfed=users" in field(page.text, "mapping"), "an example of the mapping's lines"
    assert "No directory of yours is connected yet." in shown and "No syncs yet." in shown
    assert "Check connection" in shown and "Connect" in shown


async def test_a_check_with_a_wrong_password_shows_identitys_reason_and_saves_nothing(panel, ann):
    page = await ann.submit("/directory", "/directory/check", typed(WRONG_PASSWORD))

    assert page.status_code == 422
    assert panel.directory.REFUSED in words(field(page.text, "bind_password")), "the reason next to the password"
    assert "Your directory could not be read: the directory refused the bind DN and password: check both. Nothing was saved." in words(page.text)
    assert 'value="ldaps://ldap.acme.example"' in field(page.text, "url"), "what was typed is kept"
    assert WRONG_PASSWORD not in page.text
    assert [subject for subject, *_ in panel.directory.asked] == ["directory.check"]
    assert panel.directory.connected == {} and await panel.outbox() == [] and panel.auditor.records == []


async def test_a_check_that_reaches_the_directory_says_how_many_users_and_groups_and_keeps_nothing(panel, ann):
    page = await ann.submit("/directory", "/directory/check", typed())

    assert page.status_code == 200
    assert "Reached: 2 users, 2 groups. Nothing was saved: press Connect to keep it." in words(page.text)
    assert panel.directory.connected == {} and await panel.outbox() == []


async def test_connecting_then_the_page_shows_the_connection_and_the_attempt_is_audited(panel, ann):
    page = await ann.submit("/directory", "/directory/connect", typed())

    assert page.status_code == 200
    assert "Connected: 2 users, 2 groups. Identity is syncing them now" in words(page.text)
    assert panel.directory.connected["acme"] == PARAMETERS
    [record] = panel.auditor.records
    assert (record.actor, record.action, record.target, record.outcome) == ("ann@acme.example", "directory.connect", "acme", "ok")
    assert record.details["url"] == "ldaps://ldap.acme.example" and record.details["via"] == "page"

    await panel.apply(identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2))
    page = await ann.get("/directory")

    shown = words(page.text)
    assert "ldaps://ldap.acme.example" in shown and "with 2 users and 2 groups" in shown
    assert "staff: Mastodon moderators, Pixelfed users; it: Mastodon admins" in shown
    assert "Sync now" in shown and "Change the connection" in shown
    assert MAPPING in page.text.replace("&#34;", '"'), "the form holds the connection kept, to change it"
    assert 'value=""' in field(page.text, "bind_password")


async def test_a_refused_connect_is_audited_as_refused_and_keeps_nothing(panel, ann):
    page = await ann.submit("/directory", "/directory/connect", typed(WRONG_PASSWORD))

    assert page.status_code == 422
    assert panel.directory.connected == {}
    [record] = panel.auditor.records
    assert (record.action, record.outcome, record.details["problem"]) == ("directory.connect", "refused", "bad_credentials")


async def test_sync_reports_show_up_on_the_page_newest_first_with_their_counts_or_failure(panel, ann):
    await panel.apply(
        identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2),
        completed("connect"),
        identity_event(DirectorySyncFailed, timedelta(minutes=15), trigger="schedule", problem="unreachable",
                       reason="the directory at ldaps://ldap.acme.example could not be reached"),
        completed("demand", timedelta(minutes=20), users_added=1, users_updated=1, users_removed=1, memberships_added=1, memberships_removed=2),
    )

    page = await ann.get("/directory")

    rows = [words(row) for row in re.findall(r'<tr class="sync [^"]+">(.*?)</tr>', page.text, flags=re.S)]
    assert len(rows) == 3
    assert "on demand 1 added, 1 updated, 1 removed (2 in all) 1 added, 2 removed 0.4 s" in rows[0]
    assert "scheduled Failed: the directory at ldaps://ldap.acme.example could not be reached" in rows[1]
    assert "on connect 2 added, 0 updated, 0 removed (2 in all) 3 added, 0 removed" in rows[2]


async def test_a_sync_that_did_not_find_a_mapped_group_shows_a_warning_naming_it_on_the_page_and_in_the_api(panel, ann):
    missing = MissingGroup(group="it", roles_lost={"mastodon": {"admins": 2}},
                           message="the mapped group 'it' was not found in the directory: 2 people lost the admins role in mastodon")
    await panel.apply(completed("demand", memberships_removed=2, missing_groups=(missing,)), completed("connect", timedelta(minutes=-5)))

    page = await ann.get("/directory")
    token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)
    newest, older = (await api.get("/api/v1/directory")).json()["syncs"]
    await api.aclose()

    warnings = [words(row) for row in re.findall(r'<tr class="sync-warning">(.*?)</tr>', page.text, flags=re.S)]
    assert warnings == [f"Warning: {missing.message}"]
    assert page.text.index("sync-warning") < page.text.index("on connect"), "under the sync it belongs to"
    assert (newest["warnings"], older["warnings"]) == ([missing.message], [])


async def test_the_same_report_delivered_twice_is_shown_once_and_an_older_connection_does_not_replace_a_newer(panel, ann):
    report = completed("connect")
    newer = PARAMETERS.model_copy(update={"url": "ldaps://new.acme.example"})
    await panel.apply(
        report, report,
        identity_event(DirectoryConnected, timedelta(minutes=5), parameters=newer, users=3, groups=1),
        identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2),
    )

    async with panel.context.units.database.session() as session:
        syncs = (await session.execute(select(DirectorySync))).scalars().all()
        connection = await session.get(DirectoryConnection, "acme")
    assert len(syncs) == 1
    assert connection.parameters.url == "ldaps://new.acme.example" and connection.users == 3


async def test_once_the_account_is_removed_the_connection_and_its_reports_are_gone(panel, ann):
    await panel.apply(identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2), completed())
    removed = identity_event(DirectoryRemoved, timedelta(minutes=5), deployment_id="removal-1", entries_removed=9, accounts_removed=1,
                             ssh_keys_removed=1, secrets_removed=3, external_link_removed=True)

    await panel.apply(removed)

    page = await ann.get("/directory")
    assert "No directory of yours is connected yet." in words(page.text) and 'id="connected-url"' not in page.text
    assert "No syncs yet." in words(page.text), "no report is left"


async def test_sync_now_publishes_a_sync_request_and_is_audited(panel, ann):
    await panel.apply(identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2))

    asked = await ann.submit("/directory", "/directory/sync", {})

    assert asked.status_code == 303 and asked.headers["location"] == "/directory?asked=sync"
    [command] = await panel.outbox()
    assert isinstance(command, DirectorySyncRequested) and (command.operator_id, command.producer) == ("acme", "panel")
    [record] = panel.auditor.records
    assert (record.action, record.target, record.details["correlation_id"]) == ("directory.sync_requested", "acme", command.correlation_id)
    assert "its report appears below when it is done" in words((await ann.get(asked.headers["location"])).text)


async def test_a_malformed_mapping_is_refused_next_to_its_field_with_what_was_typed_kept(panel, ann):
    mapping = "staff: mastodon=moderators\nit mastodon=admins"

    page = await ann.submit("/directory", "/directory/check", typed(mapping=mapping))

    assert page.status_code == 422
    mapping_field = field(page.text, "mapping")
    assert "line 2: write the group, a colon, then service=role pairs, e.g. staff: mastodon=moderators" in words(mapping_field)
    assert 'aria-invalid="true"' in mapping_field
    assert mapping in mapping_field, "the lines as typed"
    assert panel.directory.asked == [], "nothing is sent to identity"


@pytest.mark.parametrize(("mapping", "problem"), [
    ("staff: mastodon=owner", 'line 1: "owner" is not a role; choose admins, moderators or users'),
    ("staff: friendica=users", "friendica: not a service here; choose from mastodon, peertube, pixelfed"),
    ("staff: mastodon=users\nstaff: pixelfed=users", "line 2: staff is mapped twice"),
    ("staff:", "line 1: staff has no service=role after its colon"),
])
async def test_a_mapping_with_an_unknown_role_or_service_or_a_group_twice_is_refused(panel, ann, mapping, problem):
    page = await ann.submit("/directory", "/directory/check", typed(mapping=mapping))

    assert page.status_code == 422
    assert problem in words(field(page.text, "mapping"))


async def test_missing_fields_and_a_url_that_is_not_ldap_are_answered_at_their_fields(panel, ann):
    page = await ann.submit("/directory", "/directory/connect", typed("", url="https://ldap.acme.example", bind_dn=""))

    assert page.status_code == 422
    assert "must start with ldap:// or ldaps://" in words(field(page.text, "url"))
    assert "is required" in words(field(page.text, "bind_dn"))
    assert "is required: type it again each time" in words(field(page.text, "bind_password"))
    assert panel.directory.asked == [] and panel.auditor.records == []


async def test_identity_not_answering_is_said_in_plain_words(panel, ann):
    panel.directory.available = False

    page = await ann.submit("/directory", "/directory/check", typed())

    assert page.status_code == 503
    assert "identity did not answer, so your directory was not checked and nothing was saved" in words(page.text)


async def test_every_directory_form_needs_its_csrf_token(panel, ann):
    for action in ("/directory/check", "/directory/connect", "/directory/sync"):
        refused = await ann.client.post(action, data=typed())
        assert refused.status_code == 403, action
    assert panel.directory.asked == [] and await panel.outbox() == []


async def test_the_password_is_never_in_a_page_the_outbox_the_audit_log_or_the_panel_database(panel, ann, tmp_path: Path):
    pages = [
        await ann.submit("/directory", "/directory/check", typed(WRONG_PASSWORD)),
        await ann.submit("/directory", "/directory/check", typed()),
        await ann.submit("/directory", "/directory/connect", typed(mapping="broken line")),
        await ann.submit("/directory", "/directory/connect", typed()),
    ]
    await panel.apply(identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2), completed())
    await ann.submit("/directory", "/directory/sync", {})
    pages.append(await ann.get("/directory"))

    for page in pages:
        assert THEIR_PASSWORD not in page.text and WRONG_PASSWORD not in page.text
    assert THEIR_PASSWORD not in str([message.model_dump() for message in await panel.outbox()])
    assert THEIR_PASSWORD not in str([record.model_dump() for record in panel.auditor.records])
    async with panel.context.units.database.session() as session:
        for table in Base.metadata.sorted_tables:
            assert THEIR_PASSWORD not in str((await session.execute(select(table))).all()), table.name
    for stored in tmp_path.glob("service.db*"):
        assert THEIR_PASSWORD.encode() not in stored.read_bytes(), stored.name


async def test_the_json_api_checks_connects_syncs_and_shows_the_reports(panel, ann):
    token = re.search(r'id="token" class="secret">([^<]+)<', (await ann.submit("/account/token", "/account/token", {})).text).group(1)
    api = await panel.api(token)
    body = {"parameters": PARAMETERS.model_dump(), "bind_password": THEIR_PASSWORD}

    nothing = (await api.get("/api/v1/directory")).json()
    wrong = await api.post("/api/v1/directory/check", json=body | {"bind_password": WRONG_PASSWORD})
    reached = await api.post("/api/v1/directory/check", json=body)
    unknown = await api.post("/api/v1/directory", json=body | {"parameters": {**body["parameters"], "mapping": {"staff": {"friendica": "users"}}}})
    connected = await api.post("/api/v1/directory", json=body)
    synced = await api.post("/api/v1/directory/sync")
    await panel.apply(identity_event(DirectoryConnected, parameters=PARAMETERS, users=2, groups=2), completed())
    shown = (await api.get("/api/v1/directory")).json()
    anonymous = await (await panel.api()).get("/api/v1/directory")

    assert nothing == {"connection": None, "syncs": []}
    assert wrong.status_code == 422 and wrong.json()["problem"] == "bad_credentials" and wrong.json()["error"] == panel.directory.REFUSED
    assert reached.status_code == 200 and (reached.json()["users"], reached.json()["groups"]) == (2, 2)
    assert unknown.status_code == 422 and unknown.json()["detail"]["problems"][0]["field"] == "parameters.mapping"
    assert connected.status_code == 200 and panel.directory.connected["acme"] == PARAMETERS
    assert synced.status_code == 202 and isinstance((await panel.outbox())[-1], DirectorySyncRequested)
    audited = [(r.action, r.details["via"]) for r in panel.auditor.records if r.action.startswith("directory.")]
    assert audited == [("directory.connect", "api token"), ("directory.sync_requested", "api token")], "a connect the panel refused did not reach identity"
    assert shown["connection"]["parameters"] == PARAMETERS.model_dump() and shown["connection"]["users"] == 2
    [report] = shown["syncs"]
    assert (report["trigger"], report["ok"], report["users_added"], report["memberships_added"]) == ("connect", True, 2, 3)
    assert anonymous.status_code == 401
    assert THEIR_PASSWORD not in str(shown)
    paths = (await api.get("/openapi.json")).json()["paths"]
    documented = {(path, method): operation["description"] for path, item in paths.items() if path.startswith("/api/v1/directory")
                  for method, operation in item.items()}
    assert set(documented) == {("/api/v1/directory", "get"), ("/api/v1/directory", "post"), ("/api/v1/directory/check", "post"),
                               ("/api/v1/directory/sync", "post")}
    assert all(documented.values()), "each route says what it does"
    await api.aclose()
