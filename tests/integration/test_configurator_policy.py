"""`fedi policy check` and `fedi policy impact` on a configurator database with applied plans:
what a new policy would change for every operator, before anything is switched."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from runtime.db import Database
from runtime.service import migrations_of
from services.configurator import bootstrap
from services.configurator.adapters.store import DesiredStates
from services.configurator.domain.plans import plan_configuration
from services.configurator.domain.policy import Policy

pytestmark = pytest.mark.integration


def configuration(domain: str, **services) -> dict:
    return {
        "domain": domain,
        "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{domain}"},
        **{name: {"enable": True} for name in services},
    }


def fedi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedi", "policy", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
async def home(tmp_path):
    """A configurator database where acme and globex have applied plans and initech only a pending one."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'configurator' / 'configurator.db'}")
    (tmp_path / "configurator").mkdir()
    await database.migrate(migrations_of(bootstrap.__file__))
    fleet = {
        "acme": configuration("acme.example", mastodon=True, pixelfed=True),
        "globex": configuration("globex.example", peertube=True),
        "initech": configuration("initech.example", mastodon=True),
    }
    async with database.session() as session:
        states = DesiredStates(session)
        for operator, document in fleet.items():
            plan = plan_configuration(operator, document, Policy())
            await states.add(operator, 1, f"dep-{operator}", list(plan.resources), document, document["domain"])
        await session.flush()
        for operator in ("acme", "globex"):
            await states.mark_applied(f"dep-{operator}", datetime.now(UTC))
        await session.commit()
    await database.close()
    return tmp_path


def test_check_accepts_a_good_file_and_refuses_a_bad_one_with_its_problems(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("placement: combined\ndns: {enabled: false}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sizes: {mastodon: {cores: 0, memory_mib: 1024, disk_gib: 10}}\n")

    accepted = fedi("check", str(good))
    refused = fedi("check", str(bad))

    assert accepted.returncode == 0 and "valid. release 24.11, placement combined" in accepted.stdout
    assert "dns off, mail_relay on, ssh_keys on" in accepted.stdout
    assert refused.returncode == 1
    assert "sizes.mastodon.cores: Input should be greater than or equal to 1" in refused.stdout


def test_impact_lists_per_operator_what_a_new_template_and_a_tighter_quota_would_change(home):
    policy = home / "policy.yaml"
    policy.write_text("proxmox: {template: 9100}\noperators: {globex: {quota: {memory_gib: 4}}}\n")

    result = fedi("impact", str(policy), "--home", str(home))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "acme: 2 changes"
    assert "  update   acme/mastodon/vm  machines made from now on start from template 9100; this one stays as it is" in lines
    assert not any("nixos" in line for line in lines), "nothing is rebuilt, so nothing is redeployed"
    assert "globex: no longer fits this policy" in lines
    assert "  services: PeerTube needs 8 GiB of memory; your plan allows 4 GiB" in lines
    assert not any(line.startswith("initech") for line in lines), "only what was applied is compared"
    assert lines[-1] == "2 operators: 1 affected (2 update), 1 no longer fit"
