"""The panel on a real nats-server with the real configurator: the plan an operator reviews is the
configurator's answer over request/reply; a domain the provider does not host is answered next to
the domain field and nothing reaches the bus; a deployed configuration goes out on the stream and
the configurator's plan comes back into the panel's pages."""

from pathlib import Path

import nats
import pytest

from contracts import decode
from contracts.subjects import STREAM
from runtime.bus import Bus
from runtime.db import Database
from runtime.service import migrations_of
from runtime.uow import UnitsOfWork
from services.configurator import bootstrap as configurator_bootstrap
from services.configurator.adapters.store import Base as ConfiguratorBase
from services.configurator.domain.policy import parse_policy
from services.configurator.settings import Settings as ConfiguratorSettings
from services.panel import bootstrap as panel_bootstrap
from services.panel.adapters.bus import BusPlanner, IdentityVault, StreamTrail
from services.panel.adapters.store import Base as PanelBase
from services.panel.app import create_app
from services.panel.settings import Settings as PanelSettings
from services.panel.web.context import Context
from tests.unit.test_panel_harness import PanelUnderTest, configuration_form, text_of

pytestmark = pytest.mark.integration

POLICY = parse_policy("allowed_parent_domains: [provider.example]\n")


class Service:
    """A service's database, units of work and bus, for wiring in this process."""

    def __init__(self, name: str, settings, metadata, package_file: str) -> None:
        self.settings = settings
        self.database = Database(settings.sqlalchemy_url())
        self.units = UnitsOfWork(self.database, metadata)
        self.bus = Bus(name, settings, self.units)
        self.migrations = migrations_of(package_file)

    async def start(self) -> None:
        await self.database.migrate(self.migrations)
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()
        await self.database.close()


@pytest.fixture
async def panel(nats_server, tmp_path: Path):
    configurator = Service(
        "configurator", ConfiguratorSettings(nats_url=nats_server.url, data_dir=tmp_path / "configurator"),
        ConfiguratorBase.metadata, configurator_bootstrap.__file__,
    )
    await configurator_bootstrap.wire(configurator.bus, configurator.units, policy=POLICY, fleet_out=[])
    settings = PanelSettings(nats_url=nats_server.url, data_dir=tmp_path / "panel", live_poll_seconds=0.05)
    panel = Service("panel", settings, PanelBase.metadata, panel_bootstrap.__file__)
    changes = panel_bootstrap.project(panel.bus)
    context = Context(
        units=panel.units, settings=settings, planner=BusPlanner(panel.bus, 10.0), vault=IdentityVault(panel.bus),
        trail=StreamTrail(nats_server.url, {}), changes=changes,
    )
    await configurator.start()
    await panel.start()
    under_test = PanelUnderTest(context, create_app(context))
    yield under_test
    for browser in under_test.browsers:
        await browser.client.aclose()
    await panel.stop()
    await configurator.stop()


async def stream_subjects(nats_url: str) -> list[str]:
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        last = (await js.stream_info(STREAM)).state.last_seq
        return [(await js.get_msg(STREAM, sequence)).subject for sequence in range(1, last + 1)]
    finally:
        await connection.close()


async def test_the_reviewed_plan_is_the_configurators_answer(panel):
    ann = await panel.logged_in("ann@shop.provider.example", "shop")
    await ann.configure(configuration_form("shop.provider.example"))

    review = await ann.get("/review")

    assert review.status_code == 200
    shown = text_of(review.text)
    assert "A virtual machine for Mastodon: 2 cores, 4 GiB memory, 40 GiB disk" in shown, "sizes from the provider's policy"
    assert "Storage for Mastodon's media, up to 100 GiB" in shown
    assert await stream_subjects(panel.context.settings.nats_url) == [], "a preview publishes nothing"


async def test_a_domain_the_provider_does_not_host_is_answered_at_the_domain_field_and_nothing_is_sent(panel):
    ann = await panel.logged_in("ann@shop.provider.example", "shop")
    await ann.configure(configuration_form("shop.elsewhere.example"))

    review = await ann.get("/review")

    assert review.status_code == 422
    field = review.text[review.text.index('id="f-domain"'):]
    field = field[: field.index("</div>")]
    assert "must be under provider.example, the domains this provider hosts" in text_of(field)
    assert 'value="shop.elsewhere.example"' in field, "what was typed is kept"
    assert 'name="reviewed"' not in review.text, "nothing to deploy"
    assert await stream_subjects(panel.context.settings.nats_url) == []


async def test_a_deployed_configuration_goes_out_on_the_stream_and_its_plan_comes_back(panel, eventually):
    ann = await panel.logged_in("ann@shop.provider.example", "shop")
    await ann.configure(configuration_form("shop.provider.example"))

    deployed = await ann.deploy_reviewed()
    deployment = deployed.headers["location"]

    async def planned():
        page = await ann.get(deployment)
        return "Virtual machine for Mastodon" in text_of(page.text) and page

    page = await eventually(planned, "the configurator's plan shown on the deployment page")
    assert "planned" in text_of(page.text).lower()
    subjects = await stream_subjects(panel.context.settings.nats_url)
    assert subjects[:2] == ["config.submitted", "plan.created"]
    connection = await nats.connect(panel.context.settings.nats_url)
    submitted = decode((await connection.jetstream().get_msg(STREAM, 1)).data)
    await connection.close()
    assert submitted.correlation_id == deployment.rsplit("/", 1)[1]
    assert submitted.configuration["domain"] == "shop.provider.example"
