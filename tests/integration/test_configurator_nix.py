"""The per-VM JSON the configurator emits, as the nix/ modules read it: for every placement and
with mail on or off, it evaluates into declared options only, and, with the run-time facts filled
in as nix/README.md says, the sandbox NixOS target accepts and records it."""

import json
from pathlib import Path

import pytest

from sandbox.nixos_target import deploy_command, records, secrets_command
from services.configurator.domain.planning import plan_resources, validate
from services.configurator.domain.policy import Policy, parse_policy
from services.orchestrator.adapters.deployer import DeployRequest, NixosDeployer
from tests.integration.test_deployer import NIX_DIR, OPTIONS_JSON, nix_eval, setting_paths

pytestmark = pytest.mark.integration

SECRETS_DIR = "/run/fediversity/secrets"
POLICIES = {
    "per service, mail on": Policy(),
    "per service, mail off": parse_policy("mail_relay: {enabled: false}\ndns: {enabled: false}\nssh_keys: {enabled: false}"),
    "combined": parse_policy("placement: combined\nmail_relay: {host: relay.provider.example, port: 465, security: tls}"),
    "per service, directory": parse_policy("directory: {enabled: true}"),
}
CONFIGURATION = {
    "domain": "acme.example",
    "initialUser": {"username": "alice", "displayName": "Alice", "email": "alice@acme.example"},
    "mastodon": {"enable": True, "registrations": "open"},
    "peertube": {"enable": True, "maxUploadGib": 8},
    "pixelfed": {"enable": True, "maxPhotoMib": 30},
}


def emitted(policy: Policy, configuration: dict = CONFIGURATION) -> list[dict]:
    resources = plan_resources("acme", validate(configuration), policy)
    return [resource.spec.config for resource in resources if resource.kind == "nixos"]


def filled(config: dict, address: str) -> tuple[dict, dict[str, str]]:
    """What the orchestrator adds before deploying (nix/README.md): address, s3, admin, smtp password,
    and the file of the directory's bind password when there is an `ldap` section."""
    config = json.loads(json.dumps(config))
    root = config["fediversity"]
    root["vm"]["address"] = address
    root["vm"]["authorizedKeys"] = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleOnly acme-deploy"]
    secrets = {}
    for service in ("mastodon", "peertube", "pixelfed"):
        section = root[service]
        if not section["enable"]:
            continue
        section["s3"] = {"bucket": f"fedi-acme-{service}", "endpoint": "http://127.0.0.1:3900", "region": "garage",
                         "accessKeyId": "GK0123456789abcdef01234567", "secretAccessKeyFile": f"{SECRETS_DIR}/{service}-s3-secret"}
        section["admin"] = {"username": "alice", "email": "alice@acme.example", "passwordFile": f"{SECRETS_DIR}/{service}-admin-password"}
        secrets |= {f"{service}-s3-secret": f"s3-{service}-Xy7", f"{service}-admin-password": f"pw-{service}-Qm3"}
        if "smtp" in section:
            section["smtp"]["passwordFile"] = f"{SECRETS_DIR}/{service}-smtp-password"
            secrets[f"{service}-smtp-password"] = f"smtp-{service}-Vb9"
        if "ldap" in section:
            secrets["ldap-bind-password"] = "reader-acme-Tw4"
    return config, secrets


def errors_in(config: dict, tmp_path: Path) -> list[str]:
    path = tmp_path / f"{config['fediversity']['vm']['name']}.json"
    path.write_text(json.dumps(config))
    return nix_eval("-E", f'(import {NIX_DIR}/check).errorsIn "{path}"')


def written_by_the_configurator(config: dict) -> dict:
    """A per-VM JSON without what nix/README.md says the orchestrator fills in."""
    config = json.loads(json.dumps(config))
    root = config["fediversity"]
    for fact in ("address", "authorizedKeys"):
        root["vm"].pop(fact, None)
    for service in ("mastodon", "peertube", "pixelfed"):
        root[service].pop("s3", None)
        root[service].pop("admin", None)
        root[service].get("smtp", {}).pop("passwordFile", None)
    return config


EXAMPLES = {
    "acme-mastodon.json": (POLICIES["per service, mail off"], {"mastodon": {"enable": True, "registrations": "approval"}}),
    "acme-combined.json": (
        parse_policy("placement: combined"),
        {"mastodon": {"enable": True, "registrations": "approval"}, "pixelfed": {"enable": True, "registrations": False, "maxPhotoMib": 15}},
    ),
}


@pytest.mark.parametrize(("example", "policy", "services"), [(name, *case) for name, case in EXAMPLES.items()], ids=EXAMPLES.keys())
def test_the_examples_in_nix_are_what_the_configurator_emits_plus_the_run_time_facts(example, policy, services):
    shown = json.loads((NIX_DIR / "examples" / example).read_text())
    configuration = {key: CONFIGURATION[key] for key in ("domain", "initialUser")} | services

    [config] = emitted(policy, configuration)

    assert written_by_the_configurator(shown) == config
    assert {service for service, section in shown["fediversity"].items() if isinstance(section, dict) and "s3" in section} == {
        r.service for r in plan_resources("acme", validate(configuration), policy) if r.kind == "bucket"
    }


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_each_emitted_vm_json_evaluates_into_declared_options_before_and_after_the_run_time_facts(policy, tmp_path):
    declared = set(nix_eval(str(NIX_DIR / "check"), "-A", "options"))
    assert declared == set(json.loads(OPTIONS_JSON.read_text()))

    for config in emitted(policy):
        for document in (config, filled(config, "10.10.0.5")[0]):
            assert setting_paths(document) - declared == set()
            assert errors_in(document, tmp_path) == []


def test_the_mail_settings_are_those_the_modules_declare(tmp_path):
    config = emitted(POLICIES["combined"])[0]

    smtp = config["fediversity"]["pixelfed"]["smtp"]
    assert smtp == {"host": "relay.provider.example", "port": 465, "security": "tls",
                    "username": "acme-pixelfed", "fromAddress": "pixelfed@acme.example"}
    wrong = json.loads(json.dumps(config))
    wrong["fediversity"]["pixelfed"]["smtp"]["security"] = "ssl"
    assert errors_in(wrong, tmp_path) == ["The option `fediversity.pixelfed.smtp.security' is not of type `one of \"starttls\", \"tls\"'."]


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
async def test_the_sandbox_nixos_target_deploys_what_the_configurator_emits(policy, tmp_path):
    state = tmp_path / "state"
    deployer = NixosDeployer(tmp_path / "work", deploy_command(state), timeout=60, secrets_command=secrets_command(state))

    for number, config in enumerate(emitted(policy)):
        document, secrets = filled(config, f"10.10.0.{10 + number}")
        vm = document["fediversity"]["vm"]
        await deployer.deploy(DeployRequest(vm_name=vm["name"], address=vm["address"], vm_config=document, secrets=secrets))

    deployed = {name: record["services"] for name, record in records(state).items()}
    expected = {"acme-fedi": ["mastodon", "peertube", "pixelfed"]} if policy.placement == "combined" else {
        f"acme-{s}": [s] for s in ("mastodon", "peertube", "pixelfed")
    }
    assert deployed == expected
