from pydantic_settings import SettingsConfigDict

from runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_ORCHESTRATOR_", extra="ignore")
    service_name: str = "orchestrator"

    proxmox_host: str = "127.0.0.1"
    proxmox_port: int = 8006
    proxmox_token_id: str = "root@pam!fedi"
    proxmox_token_secret: str = "development-proxmox-token"
    proxmox_verify_ssl: str = "true"
    """'true', 'false', or the path of a CA/certificate file to trust."""
    proxmox_node: str = "pve1"
    proxmox_template_vmid: int = 9000
    proxmox_task_timeout_seconds: float = 600.0
    proxmox_poll_seconds: float = 0.5

    deploy_command: str = "nixos-rebuild switch --flake {flake}#{vm} --target-host root@{address}"
    """The NixOS deploy command; {flake}, {vm} and {address} are filled in. Split on spaces."""
    deploy_timeout_seconds: float = 1800.0

    parallelism: int = 8
    step_attempts: int = 5
    retry_backoff_seconds: float = 1.0

    def verify_ssl(self) -> bool | str:
        lowered = self.proxmox_verify_ssl.lower()
        return {"true": True, "false": False}.get(lowered, self.proxmox_verify_ssl)
