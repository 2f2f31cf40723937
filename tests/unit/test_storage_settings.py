"""Storage refuses to start with settings that cannot work or are unsafe, saying which to set."""

import pytest
from pydantic import ValidationError

from services.storage.settings import Settings


def test_production_refuses_the_development_garage_token() -> None:
    with pytest.raises(ValidationError, match="set FEDI_STORAGE_GARAGE_ADMIN_TOKEN: the development token is refused"):
        Settings(environment="production", secret_key="a-real-key")
    assert Settings(environment="production", secret_key="a-real-key", garage_admin_token="from-garage-toml")


def test_a_plain_s3_backend_needs_the_providers_key() -> None:
    with pytest.raises(ValidationError, match="backend=s3 needs FEDI_STORAGE_S3_ACCESS_KEY_ID and FEDI_STORAGE_S3_SECRET"):
        Settings(backend="s3")
    settings = Settings(backend="s3", s3_access_key_id="GK1", s3_secret_access_key="the-providers-s3-secret")
    assert "the-providers-s3-secret" not in repr(settings)
