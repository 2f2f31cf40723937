from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from runtime.settings import SecretKeySettings


class Settings(SecretKeySettings):
    """`secret_key` signs session cookies and CSRF tokens; refused at its default in production."""

    model_config = SettingsConfigDict(env_prefix="FEDI_PANEL_", extra="ignore")
    service_name: str = "panel"

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    cookie_secure: bool | None = None
    """Send cookies over HTTPS only; by default on in production, off in development (plain http://127.0.0.1)."""
    session_hours: float = 12.0
    login_attempts: int = 5
    """Failed log-ins allowed per e-mail address within `login_window_seconds` (ten times as many per client address)."""
    login_window_seconds: int = 900
    preview_timeout_seconds: float = 5.0
    """How long to wait for the configurator's plan preview."""
    live_poll_seconds: float = 2.0
    """Live pages re-read the read model at least this often (an event handled by another panel
    instance wakes no waiter in this one)."""

    @model_validator(mode="after")
    def _secure_cookies_in_production(self):
        if self.cookie_secure is None:
            self.cookie_secure = self.environment == "production"
        return self
