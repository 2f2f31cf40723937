"""The NixOS side: the nix/ modules parse and agree with options.json and the per-VM JSON, and the
deployer deploys through the sandbox NixOS target, which validates what it is given."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.nixos_target import records
from services.orchestrator.adapters.deployer import DeployFailed, DeployRequest, NixosDeployer

pytestmark = pytest.mark.integration

NIX_DIR = Path(__file__).resolve().parents[2] / "nix"
OPTIONS_JSON = NIX_DIR / "options.json"
SAMPLE_JSON = NIX_DIR / "examples" / "acme-mastodon.json"
SECRETS = {"mastodon-s3-secret": "s3-secret-Zq8Wn3vPq1", "mastodon-admin-password": "admin-pw-Lk4Rt7yXw2"}


def nix_instantiate(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("nix-instantiate") is None:
        reason = "nix-instantiate is not installed (apt-get install nix-bin)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, timeout=60)


def nix_eval(*args: str):
    result = nix_instantiate("--eval", "--strict", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sample() -> dict:
    return json.loads(SAMPLE_JSON.read_text())


def setting_paths(value: dict, prefix: str = "") -> set[str]:
    """Leaf key paths of a per-VM JSON; a service's free-form `options` counts as one leaf."""
    paths = set()
    for key, child in value.items():
        path = f"{prefix}{key}"
        if isinstance(child, dict) and key != "options":
            paths |= setting_paths(child, f"{path}.")
        else:
            paths.add(path)
    return paths


# --- nix/ modules -------------------------------------------------------------------------


@pytest.mark.parametrize("nix_file", sorted(NIX_DIR.rglob("*.nix")), ids=lambda p: str(p.relative_to(NIX_DIR)))
def test_every_nix_file_parses(nix_file):
    result = nix_instantiate("--parse", str(nix_file))
    assert result.returncode == 0, result.stderr


def test_options_json_lists_exactly_the_options_the_modules_declare():
    declared = nix_eval(str(NIX_DIR / "check"), "-A", "options")
    assert json.loads(OPTIONS_JSON.read_text()) == declared


def test_every_setting_of_the_sample_vm_json_is_a_declared_option():
    assert setting_paths(sample()) - set(json.loads(OPTIONS_JSON.read_text())) == set()


def test_the_sample_vm_json_evaluates_into_the_declared_options():
    expression = '{ nixDir, json }: (import (nixDir + "/vm-from-json.nix") json).fediversity'
    evaluated = nix_eval("--argstr", "nixDir", str(NIX_DIR), "--argstr", "json", str(SAMPLE_JSON), "-E", expression)

    assert evaluated == sample()["fediversity"]
    assert setting_paths(evaluated, "fediversity.") <= set(nix_eval(str(NIX_DIR / "check"), "-A", "options"))
    assert nix_eval("-E", f'(import {NIX_DIR}/check).errorsIn "{SAMPLE_JSON}"') == []


def test_the_option_check_reports_what_nixos_would_reject(tmp_path):
    config = sample()
    config["fediversity"]["mastodon"]["s3"]["bukket"] = "typo"
    config["fediversity"]["vm"]["cores"] = "2"
    (tmp_path / "vm.json").write_text(json.dumps(config))

    errors = nix_eval("-E", f'(import {NIX_DIR}/check).errorsIn "{tmp_path}/vm.json"')

    assert errors == [
        "The option `fediversity.mastodon.s3.bukket' does not exist.",
        "The option `fediversity.vm.cores' is not of type `positive integer, meaning >0'.",
    ]


# --- deployer + sandbox NixOS target --------------------------------------------------------


def sandbox_command(state_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sandbox.nixos_target", "switch", "--flake", "{flake}#{vm}",
            "--target-host", "root@{address}", "--state-dir", str(state_dir)]


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def deployer(tmp_path, state_dir) -> NixosDeployer:
    return NixosDeployer(tmp_path / "work", sandbox_command(state_dir), timeout=30)


def request(config: dict | None = None, address: str = "10.10.0.5", secrets: dict = SECRETS) -> DeployRequest:
    return DeployRequest(vm_name="acme-mastodon", address=address, vm_config=config or sample(), secrets=secrets)


async def test_a_deploy_records_generation_1_with_the_config_hash_and_enabled_services(deployer, state_dir):
    result = await deployer.deploy(request())

    record = records(state_dir)["acme-mastodon"]
    assert record["generation"] == 1
    assert record["configHash"] == result.generation_hash == hashlib.sha256(json.dumps(sample(), sort_keys=True).encode()).hexdigest()
    assert record["services"] == ["mastodon"]
    assert record["address"] == "10.10.0.5"


async def test_redeploying_the_same_configuration_makes_generation_2(deployer, state_dir):
    first = await deployer.deploy(request())
    second = await deployer.deploy(request())

    assert second.generation_hash == first.generation_hash
    assert records(state_dir)["acme-mastodon"]["generation"] == 2


async def test_progress_lines_stream_to_on_output_as_they_are_printed(deployer, monkeypatch):
    monkeypatch.setenv("FEDI_SANDBOX_NIXOS_DELAY", "0.1")
    arrivals: list[tuple[float, str]] = []

    async def on_output(line: str) -> None:
        arrivals.append((time.monotonic(), line))

    result = await deployer.deploy(request(), on_output)

    lines = [line for _, line in arrivals]
    assert lines[0] == "building the system configuration..."
    assert lines[1].startswith("copying ") and lines[1].endswith(" paths...")
    assert {"activating the configuration...", "setting up /etc...", "reloading the following units: nginx.service"} <= set(lines)
    assert arrivals[-1][0] - arrivals[0][0] >= 0.5
    assert result.log_tail == tuple(lines)


@pytest.mark.parametrize(
    ("change", "secrets", "reason"),
    [
        pytest.param(None, {"mastodon-s3-secret": SECRETS["mastodon-s3-secret"]},
                     "fediversity.mastodon.admin.passwordFile refers to /run/fediversity/secrets/mastodon-admin-password, "
                     "but the deployment provides no secrets/acme-mastodon/mastodon-admin-password",
                     id="missing secret file"),
        pytest.param(lambda c: c["vm"].update(address="10.10.0.9"), SECRETS,
                     "fediversity.vm.address is '10.10.0.9' but the target host is '10.10.0.5'", id="wrong address"),
        pytest.param(lambda c: c["mastodon"]["s3"].update(secretAccessKey="inline-Secret-9x"), SECRETS,
                     "fediversity.mastodon.s3.secretAccessKey holds a secret value", id="plain secret value"),
    ],
)
async def test_an_invalid_deployment_fails_with_a_clear_reason_and_changes_nothing(deployer, state_dir, change, secrets, reason):
    await deployer.deploy(request())
    config = sample()
    if change:
        change(config["fediversity"])

    with pytest.raises(DeployFailed) as failed:
        await deployer.deploy(request(config, secrets=secrets))

    assert reason in failed.value.reason
    assert "inline-Secret-9x" not in str(failed.value)
    assert records(state_dir)["acme-mastodon"]["generation"] == 1


async def test_an_undeclared_option_fails_the_nix_evaluation(deployer):
    nix_instantiate("--version")
    config = sample()
    config["fediversity"]["mastodon"]["singleUserMode"] = True

    with pytest.raises(DeployFailed, match="The option `fediversity.mastodon.singleUserMode' does not exist"):
        await deployer.deploy(request(config))


async def test_secrets_are_written_0600_and_never_reach_the_output(deployer, tmp_path):
    lines: list[str] = []
    result = await deployer.deploy(request(), lines.append)

    secrets_dir = tmp_path / "work" / "acme-mastodon" / "secrets" / "acme-mastodon"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for name, value in SECRETS.items():
        assert stat.S_IMODE((secrets_dir / name).stat().st_mode) == 0o600
        assert (secrets_dir / name).read_text() == value
    output = "\n".join([*lines, *result.log_tail])
    assert not any(value in output for value in SECRETS.values())


async def test_a_command_that_prints_a_secret_has_it_redacted(tmp_path):
    leaky = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read(), file=sys.stderr); sys.exit(3)",
             "{flake}/secrets/{vm}/mastodon-admin-password"]
    lines: list[str] = []

    with pytest.raises(DeployFailed) as failed:
        await NixosDeployer(tmp_path / "work", leaky, timeout=30).deploy(request(), lines.append)

    assert failed.value.reason == "exit status 3: ***"
    assert lines == ["***"]


async def test_a_secret_value_inside_the_vm_config_is_refused_before_anything_runs(deployer, state_dir):
    config = sample()
    config["fediversity"]["mastodon"]["options"]["motd"] = SECRETS["mastodon-admin-password"]

    with pytest.raises(DeployFailed, match="contains the value of secret 'mastodon-admin-password'") as failed:
        await deployer.deploy(request(config))

    assert SECRETS["mastodon-admin-password"] not in str(failed.value)
    assert records(state_dir) == {}


async def test_an_activation_fault_fails_the_deploy_with_the_targets_error(deployer, state_dir, monkeypatch):
    monkeypatch.setenv("FEDI_SANDBOX_NIXOS_FAIL", "acme-mastodon")

    with pytest.raises(DeployFailed) as failed:
        await deployer.deploy(request())

    assert failed.value.reason.startswith("exit status 4: error: the activation of acme-mastodon failed")
    assert records(state_dir) == {}


async def test_a_deploy_that_outlives_its_timeout_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    slow = [sys.executable, "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
            "print('building the system configuration...', flush=True); time.sleep(60)"]

    started = time.monotonic()
    with pytest.raises(DeployFailed, match="timed out after 1 s; last output: building the system configuration"):
        await NixosDeployer(tmp_path / "work", slow, timeout=1).deploy(request())

    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_a_missing_deploy_command_fails_clearly(tmp_path):
    with pytest.raises(DeployFailed, match="cannot run 'no-such-nixos-rebuild'"):
        await NixosDeployer(tmp_path / "work", ["no-such-nixos-rebuild", "{flake}"]).deploy(request())


@pytest.mark.parametrize(
    "fields",
    [{"vm_name": "../etc"}, {"address": "root@10.0.0.1"}, {"secrets": {"../passwd": "x"}}],
    ids=["vm name", "address", "secret name"],
)
def test_a_request_with_unsafe_names_is_rejected(fields):
    base = {"vm_name": "acme-mastodon", "address": "10.10.0.5", "vm_config": sample(), "secrets": {}}
    with pytest.raises(ValueError):
        DeployRequest(**(base | fields))


def test_the_request_repr_hides_secret_values():
    assert SECRETS["mastodon-admin-password"] not in repr(request())


async def test_the_generated_flake_provides_the_vms_configuration(tmp_path):
    await NixosDeployer(tmp_path / "work", [sys.executable, "-c", "pass"]).deploy(request())
    root = tmp_path / "work" / "acme-mastodon"

    expression = ('{ dir }: let f = import (dir + "/flake.nix"); o = f.outputs { self = o; nixpkgs.lib.nixosSystem = a: a; }; '
                  'in map (m: m.fediversity.vm.name) o.nixosConfigurations."acme-mastodon".modules')
    assert nix_eval("--argstr", "dir", str(root), "-E", expression) == ["acme-mastodon"]
