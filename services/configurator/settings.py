from pathlib import Path

from pydantic_settings import SettingsConfigDict

from runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_CONFIGURATOR_", extra="ignore")
    service_name: str = "configurator"

    policy_file: Path | None = None
    """The provider's policy (YAML or JSON, see services/configurator/policy.example.yaml); none: the defaults."""
    campaign_tick_seconds: float = 30.0
    """How often the campaign scheduler looks at the time (it also wakes on every choice and outcome)."""
