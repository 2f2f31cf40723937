from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from runtime.patience import PatienceSettings
from runtime.settings import SecretStoreSettings


class Settings(SecretStoreSettings, PatienceSettings):
    model_config = SettingsConfigDict(env_prefix="FEDI_IDENTITY_", extra="ignore")
    service_name: str = "identity"

    ldap_url: str = ""
    """The provider's directory (OpenLDAP). Empty: the directory is kept in this service's database."""
    ldap_bind_dn: str = ""
    ldap_bind_password: SecretStr = SecretStr("")
    ldap_base_dn: str = "dc=fedi,dc=test"
    """The suffix under which every operator gets its subtree `ou=<operator>`."""
    ldap_timeout_seconds: float = 5.0

    sync_interval_seconds: float = 900.0
    """How often each operator's own directory is synced into its subtree."""
    sync_poll_seconds: float = 5.0
    """How often the scheduler looks for operators whose sync is due."""
