"""The NixOS side: the nix/ modules parse and agree with options.json and the per-VM JSON, and the
deployer deploys through the sandbox NixOS target, which validates what it is given."""

import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog.testing

from sandbox.nixos_target import deploy_command, held, records, secrets_command
from services.orchestrator.adapters.deployer import DEFAULT_COMMAND, DeployFailed, DeployRequest, NixosDeployer
from services.orchestrator.settings import DEPLOY_COMMANDS
from tests.conftest import require

pytestmark = pytest.mark.integration

NIX_DIR = Path(__file__).resolve().parents[2] / "nix"
OPTIONS_JSON = NIX_DIR / "options.json"
SAMPLE_JSON = NIX_DIR / "examples" / "acme-mastodon.json"
SECRETS = {"mastodon-s3-secret": "s3-secret-Zq8Wn3vPq1", "mastodon-admin-password": "admin-pw-Lk4Rt7yXw2"}


def nix_instantiate(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("nix-instantiate") is None:
        require("nix-instantiate is not installed (apt-get install nix-bin)")
    return subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, timeout=60)


def nix_eval(*args: str):
    result = nix_instantiate("--eval", "--strict", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sample() -> dict:
    return json.loads(SAMPLE_JSON.read_text())


def setting_paths(value: dict, prefix: str = "") -> set[str]:
    """Leaf key paths of a per-VM JSON (a service's `options` are typed options too)."""
    paths = set()
    for key, child in value.items():
        path = f"{prefix}{key}"
        if isinstance(child, dict):
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
    config["fediversity"]["mastodon"]["options"]["registrations"] = "sometimes"
    config["fediversity"]["mastodon"]["options"]["theme"] = "dark"
    (tmp_path / "vm.json").write_text(json.dumps(config))

    errors = nix_eval("-E", f'(import {NIX_DIR}/check).errorsIn "{tmp_path}/vm.json"')

    assert sorted(errors) == sorted([
        "The option `fediversity.mastodon.s3.bukket' does not exist.",
        "The option `fediversity.vm.cores' is not of type `positive integer, meaning >0'.",
        'The option `fediversity.mastodon.options.registrations\' is not of type `one of "open", "approval", "closed"\'.',
        "The option `fediversity.mastodon.options.theme' does not exist.",
    ]), "the service's own options are typed as the configuration schema says"


# --- deployer + sandbox NixOS target --------------------------------------------------------


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAiszi43aOWWV7voNgQ1Ifa7LGKwGJfOuiLM1n42h2Y8 root@acme-mastodon"
DEPLOY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def deployer(tmp_path, state_dir) -> NixosDeployer:
    return sandboxed(tmp_path, state_dir)


def sandboxed(tmp_path: Path, state_dir: Path, command: list[str] | None = None, **options) -> NixosDeployer:
    """A deployer whose secrets go to the sandbox target's host `state_dir`, running `command`
    (default: the sandbox target's switch)."""
    return NixosDeployer(tmp_path / "work", command or deploy_command(state_dir), timeout=options.pop("timeout", 30),
                         secrets_command=options.pop("secrets_command", secrets_command(state_dir)), **options)


def request(config: dict | None = None, address: str = "10.10.0.5", secrets: dict = SECRETS, **keys) -> DeployRequest:
    return DeployRequest(vm_name="acme-mastodon", address=address, vm_config=config or sample(), secrets=secrets, **keys)


def on_target(state_dir: Path, address: str = "10.10.0.5") -> dict[str, str]:
    """The secret files the sandbox host holds, checking they are private as /run's would be."""
    folder = held(state_dir, address)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in folder.iterdir())
    return {path.name: path.read_text() for path in folder.iterdir()}


def on_path(tmp_path: Path, monkeypatch, name: str, body: str) -> None:
    """Puts a Python stand-in for the command `name` first on PATH (json, os, subprocess, sys imported)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!{sys.executable}\nimport json, os, subprocess, sys\n{body}")
    (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def recording(argv: list[str], log: Path) -> list[str]:
    """`argv` run through a wrapper that first appends its arguments and environment to `log`."""
    record = ("import json, os, sys; open(sys.argv[1], 'a').write(json.dumps([sys.argv[2:], dict(os.environ)]) + '\\n'); "
              "os.execvp(sys.argv[2], sys.argv[2:])")
    return [sys.executable, "-c", record, str(log), *argv]


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
                     "but no such file was delivered to 10.10.0.5",
                     id="secret no longer delivered"),
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


async def test_a_deploy_delivers_exactly_the_requested_secrets_to_the_target(deployer, state_dir):
    await deployer.deploy(request(secrets=SECRETS | {"mastodon-smtp-password": "smtp-pw-Hj6Ty2Ws0q"}))
    assert on_target(state_dir) == SECRETS | {"mastodon-smtp-password": "smtp-pw-Hj6Ty2Ws0q"}

    await deployer.deploy(request())

    assert on_target(state_dir) == SECRETS, "a secret no longer requested does not linger on the VM"
    assert records(state_dir)["acme-mastodon"]["generation"] == 2


async def test_secrets_that_never_arrive_fail_the_deploy_with_a_clear_reason(tmp_path, state_dir):
    silent = sandboxed(tmp_path, state_dir, secrets_command=["true"])

    with pytest.raises(DeployFailed) as failed:
        await silent.deploy(request())

    assert ("fediversity.mastodon.s3.secretAccessKeyFile refers to /run/fediversity/secrets/mastodon-s3-secret, "
            "but no such file was delivered to 10.10.0.5") in failed.value.reason
    assert records(state_dir) == {}


async def test_a_failed_secrets_delivery_stops_the_deploy_before_it_switches(tmp_path, state_dir):
    unreachable = [sys.executable, "-c", "import sys; print('ssh: connect to host 10.10.0.5 port 22: No route to host', "
                   "file=sys.stderr); sys.exit(255)"]

    with pytest.raises(DeployFailed) as failed:
        await sandboxed(tmp_path, state_dir, secrets_command=unreachable).deploy(request())

    assert failed.value.reason == ("delivering the secrets to 10.10.0.5 failed: exit status 255: "
                                   "ssh: connect to host 10.10.0.5 port 22: No route to host")
    assert records(state_dir) == {}


async def test_no_secret_value_appears_in_any_argv_environment_log_or_output(tmp_path, state_dir):
    calls = tmp_path / "calls.jsonl"
    deployer = sandboxed(tmp_path, state_dir, recording(deploy_command(state_dir), calls),
                         secrets_command=recording(secrets_command(state_dir), calls))
    lines: list[str] = []

    with structlog.testing.capture_logs() as logs:
        result = await deployer.deploy(request(host_key=HOST_KEY, ssh_private_key=DEPLOY_KEY), lines.append)
        with pytest.raises(DeployFailed) as failed:
            await deployer.deploy(request(secrets={"mastodon-s3-secret": SECRETS["mastodon-s3-secret"]}), lines.append)

    seen = "\n".join([calls.read_text(), json.dumps(logs), *lines, *result.log_tail, str(failed.value), *failed.value.log_tail])
    assert len(calls.read_text().splitlines()) == 4, "both commands of both deploys ran"
    assert [value for value in [*SECRETS.values(), *DEPLOY_KEY.splitlines()] if value in seen] == []
    assert on_target(state_dir) == {"mastodon-s3-secret": SECRETS["mastodon-s3-secret"]}


async def test_the_default_secrets_command_unpacks_them_over_the_pinned_ssh(tmp_path, monkeypatch):
    """A stand-in `ssh` records its options and runs the remote command locally, with the VM's
    /run/fediversity/secrets moved under tmp_path."""
    vm_run = tmp_path / "vm" / "run" / "fediversity"
    vm_run.mkdir(parents=True)
    (vm_run / "secrets").mkdir(mode=0o755)
    (vm_run / "secrets" / "stale-password").write_text("old")
    on_path(tmp_path, monkeypatch, "ssh", f"""
*options, host, command = sys.argv[1:]
open({str(tmp_path / "ssh.json")!r}, "w").write(json.dumps({{"options": options, "host": host}}))
sys.exit(subprocess.run(["sh", "-c", command.replace("/run/fediversity", {str(vm_run)!r})]).returncode)
""")
    deployer = NixosDeployer(tmp_path / "work", [sys.executable, "-c", "pass"], timeout=30)

    await deployer.deploy(request(host_key=HOST_KEY, ssh_private_key=DEPLOY_KEY))

    root = tmp_path / "work" / "acme-mastodon"
    ssh = json.loads((tmp_path / "ssh.json").read_text())
    assert ssh["host"] == "root@10.10.0.5"
    assert ssh["options"] == [
        "-o", f"UserKnownHostsFile={root / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes", "-o", f"IdentityFile={root / 'ssh' / 'id'}", "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
    ]
    delivered = vm_run / "secrets"
    assert stat.S_IMODE(delivered.stat().st_mode) == 0o700
    assert {p.name: (p.read_text(), stat.S_IMODE(p.stat().st_mode)) for p in delivered.iterdir()} == {
        name: (value, 0o600) for name, value in SECRETS.items()
    }


async def test_a_command_that_prints_a_secret_has_it_redacted(tmp_path):
    leaky = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read(), file=sys.stderr); sys.exit(3)",
             "{flake}/secrets/{vm}/mastodon-admin-password"]
    lines: list[str] = []

    with pytest.raises(DeployFailed) as failed:
        await sandboxed(tmp_path, tmp_path / "state", leaky).deploy(request(), lines.append)

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
        await sandboxed(tmp_path, tmp_path / "state", slow, timeout=1).deploy(request())

    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_a_missing_deploy_command_fails_clearly(tmp_path):
    with pytest.raises(DeployFailed, match="cannot run 'no-such-nixos-rebuild'"):
        await sandboxed(tmp_path, tmp_path / "state", ["no-such-nixos-rebuild", "{flake}"]).deploy(request())


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
    await sandboxed(tmp_path, tmp_path / "state", [sys.executable, "-c", "pass"]).deploy(request())
    root = tmp_path / "work" / "acme-mastodon"

    expression = ('{ dir }: let f = import (dir + "/flake.nix"); o = f.outputs { self = o; nixpkgs.lib.nixosSystem = a: a; }; '
                  'in map (m: m.fediversity.vm.name) o.nixosConfigurations."acme-mastodon".modules')
    assert nix_eval("--argstr", "dir", str(root), "-E", expression) == ["acme-mastodon"]


# --- the NixOps4 variant ------------------------------------------------------------------------------


async def test_the_nixops4_flake_names_the_vm_as_a_member_of_its_root_component(tmp_path):
    deployer = sandboxed(tmp_path, tmp_path / "state", [sys.executable, "-c", "pass"], tool="nixops4")
    await deployer.deploy(request(host_key=HOST_KEY, ssh_private_key=DEPLOY_KEY))
    root = tmp_path / "work" / "acme-mastodon"

    expression = """{ dir }: let
      flake = import (dir + "/flake.nix");
      outputs = flake.outputs {
        self = outputs;
        nixpkgs = { lib.nixosSystem = args: args; };
        nixops4 = { lib.mkRoot = args: args; modules.nixops4Provider.local = "local provider"; };
        nixops4-nixos = { modules.nixops4Component.nixos = "nixos component"; };
      };
      root = (builtins.head outputs.nixops4.modules) { providers.local.exec = "exec"; };
      member = root.members."acme-mastodon";
    in {
      inputs = builtins.attrNames flake.inputs;
      provider = root.providers.local;
      members = builtins.attrNames root.members;
      inherit (member) type imports ssh;
      vm = (builtins.head member.nixos.module.imports).fediversity.vm.name;
      platform = member.nixos.module.nixpkgs.hostPlatform;
      configurations = builtins.attrNames outputs.nixosConfigurations;
    }"""
    assert nix_eval("--argstr", "dir", str(root), "-E", expression) == {
        "inputs": ["nixops4", "nixops4-nixos", "nixpkgs"],
        "provider": "local provider",
        "members": ["acme-mastodon"],
        "type": "exec",
        "imports": ["nixos component"],
        "ssh": {"host": "10.10.0.5", "hostPublicKey": " ".join(HOST_KEY.split()[:2]),
                "opts": f"-o IdentityFile={root / 'ssh' / 'id'} -o IdentitiesOnly=yes"},
        "vm": "acme-mastodon",
        "platform": "x86_64-linux",
        "configurations": ["acme-mastodon"],
    }


async def test_the_default_command_switches_the_vm_with_nixos_rebuild_over_ssh_pinned_to_its_learned_host_key(tmp_path, monkeypatch):
    """A stand-in `nixos-rebuild` (the real one needs a NixOS target) that records its arguments and
    what its ssh would trust: NIX_SSHOPTS and the known-hosts file it names."""
    record = tmp_path / "nixos-rebuild.json"
    on_path(tmp_path, monkeypatch, "nixos-rebuild", f"""
opts = os.environ["NIX_SSHOPTS"].split()
known = next(o.split("=", 1)[1] for o in opts if o.startswith("UserKnownHostsFile="))
open({str(record)!r}, "w").write(json.dumps({{"argv": sys.argv[1:], "sshopts": opts, "known_hosts": open(known).read()}}))
print("activating the configuration...")
""")
    deployer = sandboxed(tmp_path, tmp_path / "state", list(DEFAULT_COMMAND))

    result = await deployer.deploy(request(host_key=HOST_KEY, ssh_private_key=DEPLOY_KEY))

    ran = json.loads(record.read_text())
    folder = tmp_path / "work" / "acme-mastodon"
    assert ran["argv"] == ["switch", "--flake", f"{folder}#acme-mastodon", "--target-host", "root@10.10.0.5"]
    assert ran["sshopts"] == ["-o", f"UserKnownHostsFile={folder / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
                              "-o", "StrictHostKeyChecking=yes", "-o", f"IdentityFile={folder / 'ssh' / 'id'}", "-o", "IdentitiesOnly=yes"]
    assert ran["known_hosts"].split() == ["10.10.0.5", *HOST_KEY.split()[:2]], "only the key learned at provisioning is trusted"
    assert result.log_tail == ("activating the configuration...",)


async def test_the_nixops4_preset_applies_the_vm_from_its_deployment_folder(tmp_path, monkeypatch):
    """A stand-in `nixops4` (the real one cannot run here) that checks it finds the flake's
    `nixops4` output in its working directory, and records that directory and its arguments."""
    on_path(tmp_path, monkeypatch, "nixops4", f"""
flake = open("flake.nix").read() if os.path.exists("flake.nix") else ""
if "nixops4 = nixops4.lib.mkRoot" not in flake:
    sys.exit("error: no flake with a nixops4 output in " + os.getcwd())
open({str(tmp_path / "nixops4.json")!r}, "w").write(json.dumps({{"cwd": os.getcwd(), "argv": sys.argv[1:]}}))
print("applied", sys.argv[-1])
""")
    state_dir = tmp_path / "state"
    deployer = sandboxed(tmp_path, state_dir, shlex.split(DEPLOY_COMMANDS["nixops4"]), tool="nixops4")

    result = await deployer.deploy(request(host_key=HOST_KEY))

    assert json.loads((tmp_path / "nixops4.json").read_text()) == {
        "cwd": str(tmp_path / "work" / "acme-mastodon"),
        "argv": ["apply", "--no-interactive", "--show-trace", "acme-mastodon"],
    }
    assert result.log_tail == ("applied acme-mastodon",)
    assert on_target(state_dir) == SECRETS


async def test_nixops4_without_a_learned_host_key_is_refused_before_anything_runs(tmp_path):
    deployer = sandboxed(tmp_path, tmp_path / "state", ["no-such-nixops4"], tool="nixops4")

    with pytest.raises(DeployFailed, match="NixOps4 needs the VM's SSH host key, and none was learned at provisioning"):
        await deployer.deploy(request())

    assert not (tmp_path / "work" / "acme-mastodon").exists()
