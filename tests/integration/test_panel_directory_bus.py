"""An operator connects their own directory from the panel, on a real nats-server with the real
identity service and a real slapd as the operator's directory: a wrong password is answered in
plain words and keeps nothing; connecting syncs at once and the sync's report (users added) comes
back onto the operator's page. The bind password never reaches the stream."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import ldap3
import nats
import pytest

from contracts.subjects import STREAM
from sandbox.slapd import Slapd, missing
from services.identity import bootstrap as identity_bootstrap
from services.identity.adapters.store import Base as IdentityBase
from services.identity.settings import Settings as IdentitySettings
from services.panel import bootstrap as panel_bootstrap
from services.panel.adapters.bus import BusDirectory
from services.panel.adapters.fakes import FakePlanner, FakeTrail, FakeVault
from services.panel.adapters.store import Base as PanelBase
from services.panel.app import create_app
from services.panel.settings import Settings as PanelSettings
from services.panel.web.context import Context
from tests.conftest import require
from tests.integration.test_panel_bus import Service
from tests.unit.test_panel_harness import PanelUnderTest, words

pytestmark = pytest.mark.integration

THEIRS = "dc=acme,dc=example"



@pytest.fixture
def their_directory(tmp_path: Path) -> Iterator[Slapd]:
    """The operator's own directory: two people in staff, two groups."""
    require(missing())
    directory = Slapd(tmp_path / "their-ldap", suffix=THEIRS).start()
    entries = [
        (f"ou=staff,{THEIRS}", ["organizationalUnit"], {}),
        (f"ou=groups,{THEIRS}", ["organizationalUnit"], {}),
        (f"uid=bob,ou=staff,{THEIRS}", ["inetOrgPerson"], {"cn": "Bob Builder", "sn": "Builder", "mail": "bob@acme.example"}),
        (f"uid=carol,ou=staff,{THEIRS}", ["inetOrgPerson"], {"cn": "Carol Cook", "sn": "Cook", "mail": "carol@acme.example"}),
        (f"cn=moderators,ou=groups,{THEIRS}", ["groupOfNames"], {"member": [f"uid=bob,ou=staff,{THEIRS}"]}),
        (f"cn=everyone,ou=groups,{THEIRS}", ["groupOfNames"], {"member": [f"uid=bob,ou=staff,{THEIRS}", f"uid=carol,ou=staff,{THEIRS}"]}),
    ]
    try:
        with ldap3.Connection(ldap3.Server(directory.url), directory.bind_dn, directory.password, auto_bind=True) as conn:
            for dn, classes, attributes in entries:
                assert conn.add(dn, classes, attributes), conn.result
        yield directory
    finally:
        directory.stop()


@pytest.fixture
async def panel(nats_server, tmp_path: Path, their_directory):
    identity_settings = IdentitySettings(nats_url=nats_server.url, data_dir=tmp_path / "identity", sync_poll_seconds=0.2)
    identity = Service("identity", identity_settings, IdentityBase.metadata, identity_bootstrap.__file__)
    background = await identity_bootstrap.wiring(identity_settings)(identity.bus, identity.units)
    settings = PanelSettings(nats_url=nats_server.url, data_dir=tmp_path / "panel", live_poll_seconds=0.05)
    panel = Service("panel", settings, PanelBase.metadata, panel_bootstrap.__file__)
    changes = panel_bootstrap.project(panel.bus)
    context = Context(
        units=panel.units, settings=settings, planner=FakePlanner(), vault=FakeVault(), trail=FakeTrail(), changes=changes,
        directory=BusDirectory(panel.bus, 20.0),
    )
    await identity.start()
    tasks = [asyncio.create_task(work) for work in background]
    await panel.start()
    under_test = PanelUnderTest(context, create_app(context))
    yield under_test
    for browser in under_test.browsers:
        await browser.client.aclose()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await panel.stop()
    await identity.stop()


def typed(directory: Slapd, password: str) -> dict[str, str]:
    return {
        "url": directory.url, "bind_dn": directory.bind_dn, "bind_password": password, "base_dn": THEIRS,
        "user_filter": "", "group_filter": "", "uid_attribute": "",
        "mapping": "moderators: mastodon=moderators\neveryone: mastodon=users, pixelfed=users",
    }


async def stream_bodies(nats_url: str) -> bytes:
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        last = (await js.stream_info(STREAM)).state.last_seq
        return b"".join([(await js.get_msg(STREAM, sequence)).data for sequence in range(1, last + 1)])
    finally:
        await connection.close()


async def test_a_wrong_password_is_answered_in_plain_words_and_connecting_brings_the_sync_report_onto_the_page(
    panel, their_directory, eventually
):
    ann = await panel.logged_in("ann@acme.example", "acme")

    refused = await ann.submit("/directory", "/directory/check", typed(their_directory, "not-their-password"))

    assert refused.status_code == 422
    shown = words(refused.text)
    assert f"{their_directory.url} refused the bind DN {their_directory.bind_dn} with that password" in shown, "identity's reason"
    assert "Nothing was saved." in shown and "No directory of yours is connected yet." in shown

    connected = await ann.submit("/directory", "/directory/connect", typed(their_directory, their_directory.password))

    assert connected.status_code == 200, words(connected.text)
    assert "Connected: 2 users, 2 groups." in words(connected.text)

    async def reported():
        # the connection and the sync report are two events, projected by two consumers in either order
        page = await ann.get("/directory")
        shown = words(page.text)
        return all(
            text in shown for text in (
                "on connect 2 added, 0 updated, 0 removed (2 in all)", f"Directory {their_directory.url}", "with 2 users and 2 groups",
            )
        ) and page

    page = await eventually(reported, "the connection and the first sync's report on the operator's page")
    assert their_directory.password not in page.text
    assert their_directory.password.encode() not in await stream_bodies(panel.context.settings.nats_url)
