"""The operations team's tools on a real nats-server with the real configurator consuming:
`fedi dlq list/show/replay` and `fedi events tail`."""

import asyncio
import json
import os
import subprocess
import sys

import nats
import pytest

from contracts import decode, encode
from contracts.events import ConfigSubmitted
from contracts.subjects import CONFIG_SUBMITTED, PLAN_CREATED
from fedi.dlq import ReplayRefused, dead_letters, replay
from fedi.events import tail
from fedi.streamread import stored
from runtime.bus import Bus
from runtime.db import Database
from runtime.service import migrations_of
from runtime.uow import UnitsOfWork
from services.configurator import bootstrap as configurator
from services.configurator.adapters.store import Base
from services.configurator.settings import Settings

pytestmark = pytest.mark.integration

CONFIGURATION = {
    "domain": "example.org",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@example.org"},
    "mastodon": {"enable": True},
}


@pytest.fixture
async def configurator_bus(nats_server, tmp_path):
    settings = Settings(nats_url=nats_server.url, data_dir=tmp_path, max_deliveries=2, redelivery_backoff_seconds=0.05)
    database = Database(settings.sqlalchemy_url())
    await database.migrate(migrations_of(configurator.__file__))
    units = UnitsOfWork(database, Base.metadata)
    bus = Bus("configurator", settings, units)
    await configurator.wire(bus, units, fleet_out=[])
    await bus.start()
    yield bus
    await bus.stop()
    await database.close()


async def publish(url: str, subject: str, body: bytes) -> None:
    connection = await nats.connect(url)
    await connection.jetstream().publish(subject, body)
    await connection.close()


async def subjects(url: str) -> list[str]:
    return [item.subject async for item in stored(url)]


def poison() -> tuple[ConfigSubmitted, bytes]:
    """A submission with revision 0 (revisions start at 1): its consumer cannot accept it."""
    good = ConfigSubmitted(correlation_id="dep-9", operator_id="acme", producer="panel", revision=1, configuration=CONFIGURATION)
    raw = json.loads(encode(good))
    raw["revision"] = 0
    return good, json.dumps(raw).encode()


async def test_a_poison_message_is_listed_with_its_reason_then_fixed_replayed_and_planned(nats_server, configurator_bus, eventually):
    good, bad = poison()
    await publish(nats_server.url, CONFIG_SUBMITTED, bad)
    follower = ConfigSubmitted(correlation_id="dep-10", operator_id="globex", producer="panel", revision=1, configuration=CONFIGURATION)
    await publish(nats_server.url, CONFIG_SUBMITTED, encode(follower))

    letters = await eventually(lambda: dead_letters(nats_server.url), "the poison message among the dead letters")
    assert [(d.subject, d.consumer) for d in letters] == [(CONFIG_SUBMITTED, "configurator-config-submitted")]
    assert "revision" in letters[0].reason

    async def planned_for(deployment):
        for item in [i async for i in stored(nats_server.url) if i.subject == PLAN_CREATED]:
            if decode(item.data).deployment_id == deployment:
                return True
        return False

    await eventually(lambda: planned_for("dep-10"), "the message after the poison one planned")

    with pytest.raises(ReplayRefused, match="still not a valid message"):
        await replay(nats_server.url, letters[0].sequence)
    assert await replay(nats_server.url, letters[0].sequence, encode(good)) == CONFIG_SUBMITTED

    await eventually(lambda: planned_for("dep-9"), "the fixed and replayed submission planned")
    assert await dead_letters(nats_server.url) == []


async def test_dlq_commands_print_what_an_operator_needs(nats_server, configurator_bus, eventually):
    _, bad = poison()
    await publish(nats_server.url, CONFIG_SUBMITTED, bad)
    letters = await eventually(lambda: dead_letters(nats_server.url), "a dead letter")

    def fedi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fedi", *args, "--nats-url", nats_server.url], capture_output=True, text=True, timeout=60
        )

    listed = fedi("dlq", "list")
    assert listed.returncode == 0 and f"#{letters[0].sequence}" in listed.stdout and "revision" in listed.stdout
    shown = fedi("dlq", "show", str(letters[0].sequence))
    assert shown.returncode == 0 and '"revision": 0' in shown.stdout
    refused = fedi("dlq", "replay", str(letters[0].sequence))
    assert refused.returncode == 1 and "still not a valid message" in refused.stdout


async def test_events_tail_filters_by_operator_type_and_deployment(nats_server, configurator_bus, eventually):
    for operator in ("acme", "globex"):
        submitted = ConfigSubmitted(
            correlation_id=f"dep-{operator}", operator_id=operator, producer="panel", revision=1, configuration=CONFIGURATION
        )
        await publish(nats_server.url, CONFIG_SUBMITTED, encode(submitted))
    await eventually(lambda: _count(nats_server.url, PLAN_CREATED, 2), "both plans")

    lines: list[str] = []
    await tail(stored(nats_server.url), "acme", ("plan",), None, False, lines.append)
    assert len(lines) == 1 and "plan.created" in lines[0] and "acme" in lines[0]

    lines.clear()
    await tail(stored(nats_server.url), None, (), "dep-globex", True, lines.append)
    assert [json.loads(line)["type"] for line in lines] == ["config.submitted", "plan.created"]


async def test_events_tail_shows_what_was_stored_then_follows_new_events_live_as_they_come(nats_server, configurator_bus):
    def submitted(operator: str, deployment: str) -> bytes:
        return encode(ConfigSubmitted(
            correlation_id=deployment, operator_id=operator, producer="panel", revision=1, configuration=CONFIGURATION
        ))

    await publish(nats_server.url, CONFIG_SUBMITTED, submitted("acme", "dep-old"))
    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fedi", "events", "tail", "--all", "--operator", "acme", "--nats-url", nats_server.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async def shown(deployment: str) -> list[str]:
            seen = []
            async with asyncio.timeout(60):
                while not any("plan.created" in line for line in seen):
                    line = (await follower.stdout.readline()).decode()
                    assert line, (await follower.stderr.read()).decode()
                    seen.append(line)
            assert all(deployment in line for line in seen), seen
            return seen

        assert ["config.submitted" in line for line in await shown("dep-old")] == [True, False]

        await publish(nats_server.url, CONFIG_SUBMITTED, submitted("globex", "dep-else"))
        await publish(nats_server.url, CONFIG_SUBMITTED, submitted("acme", "dep-new"))

        live = await shown("dep-new")
        assert "config.submitted" in live[0] and "acme" in live[0], "another operator's events are not shown"
    finally:
        follower.terminate()
        await follower.wait()


async def _count(url: str, subject: str, expected: int) -> bool:
    return sum(1 for s in await subjects(url) if s == subject) >= expected


async def test_a_replay_corrected_in_the_editor_is_planned_traced_by_the_server_and_audited(nats_server, configurator_bus, eventually):
    _, bad = poison()
    await publish(nats_server.url, CONFIG_SUBMITTED, bad)
    letters = await eventually(lambda: dead_letters(nats_server.url), "a dead letter")
    fix = "sed -i 's/\"revision\": 0/\"revision\": 1/'"

    def fedi(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fedi", *args, "--nats-url", nats_server.url],
            capture_output=True, text=True, timeout=60, env=os.environ | env,
        )

    replayed = fedi("dlq", "replay", str(letters[0].sequence), "--edit", "--trace", EDITOR=fix)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    await eventually(lambda: _count(nats_server.url, PLAN_CREATED, 1), "the corrected submission planned")
    assert await dead_letters(nats_server.url) == []

    hops = fedi("trace", "dep-9", "--server")
    assert hops.returncode == 0, hops.stdout + hops.stderr
    assert hops.stdout.startswith("config.submitted") and "ingress" in hops.stdout and "in stream FEDI" in hops.stdout

    audit = fedi("audit", "--action", "dlq")
    assert audit.returncode == 0
    assert f"dlq.replayed #{letters[0].sequence}" in audit.stdout
    assert "edited=true" in audit.stdout and "subject=config.submitted" in audit.stdout


async def test_trace_timeline_shows_how_long_the_configurator_waited_and_worked(nats_server, configurator_bus, eventually):
    submitted = ConfigSubmitted(correlation_id="dep-t", operator_id="acme", producer="panel", revision=1, configuration=CONFIGURATION)
    await publish(nats_server.url, CONFIG_SUBMITTED, encode(submitted))
    await eventually(lambda: _count(nats_server.url, PLAN_CREATED, 1), "the plan")

    shown = subprocess.run(
        [sys.executable, "-m", "fedi", "trace", "dep-t", "--timeline", "--nats-url", nats_server.url],
        capture_output=True, text=True, timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    [planned] = [line for line in shown.stdout.splitlines() if "plan.created" in line]
    assert "waited" in planned and "worked" in planned and "REDELIVERED" not in planned
    assert "configurator" in shown.stdout.split("per service:")[1]
