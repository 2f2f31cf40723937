from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator
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
    directory_timeout_seconds: float = 20.0
    """How long to wait for identity to check an operator's own directory (it may wait for an unreachable one)."""
    live_poll_seconds: float = 2.0
    """Live pages re-read the read model at least this often (an event handled by another panel
    instance wakes no waiter in this one)."""

    base_url: str = ""
    """Where operators reach the panel (links in e-mails point there); empty: http://<http_host>:<http_port>."""
    minimum_window_minutes: int = 60
    """The shortest weekly maintenance window the panel accepts (the provider's policy may ask for more)."""
    campaign_refresh_seconds: float = 5.0
    """How often a running campaign's dashboard refreshes itself."""
    bus_refresh_seconds: float = 5.0
    """How often the bus-health page refreshes itself."""
    stuck_minutes: float = 10.0
    """A planned or running deployment whose last event is older than this is shown as stuck on the bus-health page."""

    smtp_host: str = ""
    """Mail server for notices to operators; empty: no e-mail, notices are in the panel only."""
    smtp_port: int = 587
    smtp_from: str = ""
    """The sender of notices; empty: FediPanel <noreply@the base URL's host>."""
    smtp_user: str = ""
    """Empty: no login (a relay that trusts the panel's address)."""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30.0
    mail_poll_seconds: float = 30.0
    """The mailer looks for unsent notices at least this often (a notice handled here wakes it at once)."""
    mail_retry_seconds: float = 60.0
    """First wait after a failed send; doubles with every further failure of that notice, up to a day."""

    @model_validator(mode="after")
    def _secure_cookies_in_production(self):
        if self.cookie_secure is None:
            self.cookie_secure = self.environment == "production"
        return self

    @model_validator(mode="after")
    def _links_in_mails_reach_the_panel(self):
        if self.environment == "production" and self.smtp_host and not self.base_url:
            raise ValueError("set FEDI_PANEL_BASE_URL: the e-mails to operators link to the panel")
        return self

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def mail_sender(self) -> str:
        return self.smtp_from or f"FediPanel <noreply@{urlsplit(self.public_url).hostname}>"
