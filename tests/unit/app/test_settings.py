"""Settings come from the environment and refuse unsafe combinations."""

from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError, normalize_database_url


def test_it_defaults_to_sqlite_under_var_and_the_embedded_worker(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'ruleflow.db'}"
    assert settings.uses_redis is False


def test_it_generates_a_development_secret_once_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    first = Settings.from_env().secret_key
    assert len(first) >= 32
    assert Settings.from_env().secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_a_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("RULEFLOW_ENV", "production")
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env()
    assert not (tmp_path / "secret_key").exists()


def test_a_short_secret_is_refused(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="32"):
        Settings.from_env()


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("RULEFLOW_ENV", "staging")
    with pytest.raises(SettingsError, match="RULEFLOW_ENV"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        ("postgres://u:p@db/oms", "postgresql+asyncpg://u:p@db/oms"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_database_urls_are_given_their_async_driver(given, used):
    assert normalize_database_url(given) == used
