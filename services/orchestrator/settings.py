from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from runtime.settings import ServiceSettings

DEPLOY_COMMANDS = {
    "nixos-rebuild": "nixos-rebuild switch --flake {flake}#{vm} --target-host root@{address}",
    "nixops4": "nixops4 apply --no-interactive --show-trace {vm}",
}
"""Deploy command presets, run in the VM's deployment folder (NixOps4 takes the flake there); {flake},
{vm}, {address}, {known_hosts}, {identity} and {secrets} are filled in, and an argument
{ssh_options} stands for the ssh `-o` options pinning the VM's host key and the deploy key."""


DEVELOPMENT_TOKEN = "development-proxmox-token"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_ORCHESTRATOR_", extra="ignore")
    service_name: str = "orchestrator"

    proxmox_host: str = "127.0.0.1"
    proxmox_port: int = 8006
    proxmox_token_id: str = "root@pam!fedi"
    proxmox_token_secret: str = DEVELOPMENT_TOKEN
    proxmox_verify_ssl: str = "true"
    """'true', 'false', or the path of a CA/certificate file to trust."""
    proxmox_node: str = "pve1"
    """The node holding the template (and the only node unless proxmox_nodes says more)."""
    proxmox_nodes: str = ""
    """Comma-separated nodes VMs are placed on (the least busy one is chosen); empty: proxmox_node."""
    proxmox_template_vmid: int = 9000
    proxmox_storage: str = ""
    """Target storage of full clones; empty: the template's."""
    proxmox_ipconfig: str = "ip=dhcp"
    """cloud-init ipconfig0 of every VM."""
    proxmox_task_timeout_seconds: float = 600.0
    proxmox_poll_seconds: float = 0.5
    """The longest pause between polls of a Proxmox task, a lock or a booting guest agent (the first ones
    are shorter, doubling up to it)."""
    proxmox_shutdown_timeout_seconds: float = 60.0
    """How long a VM may take to shut down cleanly before it is stopped."""
    proxmox_threads: int = 32

    dns_api_url: str = ""
    """PowerDNS Authoritative HTTP API, e.g. http://127.0.0.1:8081; empty: DNS records are not published."""
    dns_api_key: str = ""
    dns_server_id: str = "localhost"

    deploy_tool: Literal["nixos-rebuild", "nixops4"] = "nixos-rebuild"
    """Which deploy tool's flake layout is written (nixops4: the flake's `nixops4` output too)."""
    deploy_command: str = ""
    """The NixOS deploy command (split like a shell would); empty: the preset of deploy_tool."""
    secrets_command: str = ""
    """Delivers a VM's secret files before each deploy: run like the deploy command, with a tar
    archive of them on stdin, it must make them the VM's /run/fediversity/secrets (0700, files 0600),
    replacing what was there. Empty: ssh to root@{address} with {ssh_options}, unpacking the archive
    there (services/orchestrator/adapters/deployer.py DEFAULT_SECRETS_COMMAND)."""
    deploy_timeout_seconds: float = 1800.0

    parallelism: int = 16
    """Steps running at once, over all deployments; a step queued for a backend's own limit
    (clone_limit_per_node, deploy_limit, dns_limit) does not count until that backend lets it in."""
    clone_limit_per_node: int = 2
    deploy_limit: int = 8
    dns_limit: int = 8
    step_attempts: int = 6
    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 10.0
    transient_deadline_seconds: float = 300.0
    """How long a step keeps retrying transient backend errors before it fails."""
    command_timeout_seconds: float = 3600.0
    """How long a step waits for storage or identity to answer a command."""
    progress_interval_seconds: float = 1.0
    """At most one output line of a running deploy per step is reported this often."""

    crash_at: str = ""
    """Test aid: comma-separated points (`before:vm.clone`, `after:nixos.deploy`, ...) where the
    process exits at once, each once; the ones already taken are kept in crash_log."""
    crash_log: Path | None = None

    @model_validator(mode="after")
    def _refuse_development_credentials_in_production(self):
        if self.environment == "production" and self.proxmox_token_secret == DEVELOPMENT_TOKEN:
            raise ValueError("set FEDI_ORCHESTRATOR_PROXMOX_TOKEN_SECRET: the development token is refused in production")
        if self.dns_api_url and not self.dns_api_key:
            raise ValueError("FEDI_ORCHESTRATOR_DNS_API_URL is set without FEDI_ORCHESTRATOR_DNS_API_KEY")
        return self

    def verify_ssl(self) -> bool | str:
        lowered = self.proxmox_verify_ssl.lower()
        return {"true": True, "false": False}.get(lowered, self.proxmox_verify_ssl)

    def nodes(self) -> list[str]:
        return [n.strip() for n in self.proxmox_nodes.split(",") if n.strip()] or [self.proxmox_node]

    def command(self) -> str:
        return self.deploy_command or DEPLOY_COMMANDS[self.deploy_tool]
