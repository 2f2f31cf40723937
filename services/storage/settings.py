from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from runtime.patience import PatienceSettings
from runtime.settings import SecretStoreSettings


DEVELOPMENT_GARAGE_TOKEN = "development-garage-admin-token"
"""The sandbox's token under `fedi up`; refused in production."""


class Settings(SecretStoreSettings, PatienceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_STORAGE_", extra="ignore")
    service_name: str = "storage"

    backend: Literal["garage", "s3"] = "garage"
    """garage: buckets, per-bucket keys and quotas through Garage's admin API. s3: any S3 store,
    buckets through S3 alone with one shared key (s3_access_key_id), no quotas, no revoking."""

    garage_admin_url: str = "http://127.0.0.1:3903"
    garage_admin_token: SecretStr = SecretStr(DEVELOPMENT_GARAGE_TOKEN)
    s3_endpoint: str = "http://127.0.0.1:3900"
    """The S3 endpoint services use (Garage's S3 API)."""
    s3_region: str = "garage"
    s3_access_key_id: str = ""
    """backend=s3 only: the provider's key that creates buckets (and that every bucket's service gets)."""
    s3_secret_access_key: SecretStr = SecretStr("")

    usage_interval_seconds: float = 300.0
    """How often bucket.usage.reported is published for every bucket; 0 turns it off."""

    @model_validator(mode="after")
    def _backend_is_usable(self):
        if self.backend == "s3" and not (self.s3_access_key_id and self.s3_secret_access_key.get_secret_value()):
            raise ValueError("backend=s3 needs FEDI_STORAGE_S3_ACCESS_KEY_ID and FEDI_STORAGE_S3_SECRET_ACCESS_KEY")
        if (self.backend == "garage" and self.environment == "production"
                and self.garage_admin_token.get_secret_value() == DEVELOPMENT_GARAGE_TOKEN):
            raise ValueError("set FEDI_STORAGE_GARAGE_ADMIN_TOKEN: the development token is refused in production")
        return self
