"""`fedi fleet` against the real configurator on a real nats-server: the impact comes first, the
campaign follows only when confirmed, and it can be watched and paused from the command line."""

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from services.configurator.campaigns.store import Campaign
from tests.integration.test_configurator import configuration, configurator, start_configurator  # noqa: F401

pytestmark = pytest.mark.integration


def fedi(nats_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_")}
    return subprocess.run([sys.executable, "-m", "fedi", "fleet", *args, "--nats-url", nats_url],
                          capture_output=True, text=True, input=stdin, timeout=60, env=env)


async def deployed(configurator, eventually, operator: str) -> None:
    submitted = await configurator.submit(configuration(f"{operator}.example", mastodon={}), operator)
    await configurator.answer_to(submitted, eventually)
    await configurator.applied(submitted, eventually)


async def campaigns(configurator) -> list[Campaign]:
    async with configurator.database.session() as session:
        return list((await session.execute(select(Campaign))).scalars())


async def test_the_impact_is_shown_and_nothing_is_sent_until_it_is_confirmed(configurator, eventually):
    for operator in ("acme", "globex"):
        await deployed(configurator, eventually, operator)

    declined = await asyncio.to_thread(fedi, configurator.settings.nats_url, "update", "--title", "Fediversity 25.05",
                                       "--reason", "Security fixes", "--deadline", "2099-01-31", "--release", "25.05", stdin="n\n")
    assert declined.returncode == 1
    assert "2 operators affected, 0 not affected" in declined.stdout
    assert "acme: about 2 min downtime" in declined.stdout and "NixOS configuration changes" in declined.stdout
    assert await campaigns(configurator) == []

    sent = await asyncio.to_thread(fedi, configurator.settings.nats_url, "update", "--title", "Fediversity 25.05",
                                   "--reason", "Security fixes", "--deadline", "2099-01-31", "--release", "25.05", "--yes")
    assert sent.returncode == 0, sent.stderr
    [campaign] = await eventually(lambda: campaigns(configurator), "the campaign scheduled")
    assert (campaign.title, campaign.state, campaign.wave_sizes) == ("Fediversity 25.05", "running", [1, 1])

    shown = await asyncio.to_thread(fedi, configurator.settings.nats_url, "show", campaign.id)
    assert "Fediversity 25.05 (routine): running" in shown.stdout and "2 waiting" in shown.stdout

    paused = await asyncio.to_thread(fedi, configurator.settings.nats_url, "pause", campaign.id)
    assert paused.returncode == 0

    async def is_paused():
        return all(c.paused for c in await campaigns(configurator))

    await eventually(is_paused, "the campaign paused")
    listed = await asyncio.to_thread(fedi, configurator.settings.nats_url, "list")
    assert f"{campaign.id}  paused" in listed.stdout


async def test_an_invalid_policy_change_is_refused_with_its_problems_and_sends_nothing(configurator, eventually):
    await deployed(configurator, eventually, "acme")
    changes = configurator.settings.data_dir / "changes.yaml"
    changes.write_text("sizes: {mastodon: {cores: 0}}\nplacement: sideways\n")

    result = await asyncio.to_thread(fedi, configurator.settings.nats_url, "update", "--title", "Bigger", "--reason", "More room",
                                     "--deadline", "2099-01-31", "--changes", str(changes), "--yes")

    assert result.returncode == 1
    assert "sizes.mastodon.cores" in result.stdout and "placement" in result.stdout
    assert await campaigns(configurator) == []
