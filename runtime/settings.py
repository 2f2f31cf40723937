"""Settings shared by every service; each service subclasses with its own env prefix."""

from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-key-change-me"


class ServiceSettings(BaseSettings):
    """Read from `FEDI_<SERVICE>_*` environment variables (the subclass sets the prefix)."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: Literal["development", "production"] = "development"
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str = ""
    """This service's own user on the bus (its permissions come from the contracts' catalogue)."""
    nats_password: str = ""
    nats_ca_file: str = ""
    """CA certificate to verify the bus's TLS certificate (with a tls:// URL)."""
    data_dir: Path = Path("var")
    database_url: str = ""
    """SQLAlchemy async URL; empty means SQLite in data_dir. PostgreSQL: postgresql+asyncpg://..."""
    log_level: str = "INFO"
    max_deliveries: int = 5
    """Deliveries of one message before it is parked on the dead-letter subject."""
    redelivery_backoff_seconds: float = 0.5
    """First redelivery delay; doubles with every further delivery."""
    ack_wait_seconds: float = 30.0
    """How long a delivered message stays reserved; handlers heartbeat while they work, so this only
    bounds how soon a crashed process's messages are delivered again."""

    tracing_enabled: bool = True
    """OpenTelemetry spans for every publish and handled message (W3C traceparent in headers)."""
    otlp_endpoint: str = ""
    """OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces; empty: spans are not exported."""
    metrics_port: int = 0
    """Port of the Prometheus endpoint (/metrics); 0: no endpoint."""
    metrics_host: str = "127.0.0.1"
    server_trace_operators: str = ""
    """Operators whose messages the nats-server traces hop by hop (comma-separated ids, or `*`);
    `fedi trace --server` shows the hops."""

    service_name: str = "service"

    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / (self.service_name + '.db')}"


class SecretKeySettings(ServiceSettings):
    """For services that encrypt secrets at rest."""

    secret_key: str = DEVELOPMENT_SECRET
    """Key material for encrypting stored secrets (any string; a Fernet key is derived from it)."""

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self):
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(f"set FEDI_{self.service_name.upper()}_SECRET_KEY: the development key is refused in production")
        return self


class SecretStoreSettings(SecretKeySettings):
    """For services that keep a secret store (runtime.secrets) whose key can be changed."""

    previous_secret_keys: list[str] = []
    """Keys secrets may still be encrypted with (JSON list); at start-up every secret is re-encrypted
    under `secret_key`, after which the old keys can be dropped."""
