from pydantic_settings import SettingsConfigDict

from runtime.settings import SecretKeySettings


class Settings(SecretKeySettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_IDENTITY_", extra="ignore")
    service_name: str = "identity"
