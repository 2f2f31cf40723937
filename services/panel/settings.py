from pydantic_settings import SettingsConfigDict

from runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_PANEL_", extra="ignore")
    service_name: str = "panel"

    http_host: str = "127.0.0.1"
    http_port: int = 8000
