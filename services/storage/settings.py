from pydantic_settings import SettingsConfigDict

from runtime.settings import SecretKeySettings


class Settings(SecretKeySettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_STORAGE_", extra="ignore")
    service_name: str = "storage"

    garage_admin_url: str = "http://127.0.0.1:3903"
    garage_admin_token: str = "development-garage-admin-token"
    s3_endpoint: str = "http://127.0.0.1:3900"
    """The S3 endpoint services use (Garage's S3 API)."""
    s3_region: str = "garage"
