"""Settings come from the environment and refuse unsafe combinations."""

from __future__ import annotations

import pytest

from app.auth import forwarded_client
from app.settings import SANDBOX_CARRIER_SECRET, Settings, SettingsError, networks_of, normalize_database_url


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


def production_env(monkeypatch, tmp_path, **extra: str) -> None:
    for name in ("CARRIER_API_SECRET", "SANDBOX_CARRIER", "TRUSTED_PROXIES", "PASSWORD_HASHING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RULEFLOW_ENV", "production")
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_production_refuses_the_sandbox_carriers_demo_secret(tmp_path, monkeypatch):
    production_env(monkeypatch, tmp_path)
    with pytest.raises(SettingsError, match="CARRIER_API_SECRET"):
        Settings.from_env()
    production_env(monkeypatch, tmp_path, CARRIER_API_SECRET=SANDBOX_CARRIER_SECRET, SANDBOX_CARRIER="on")
    with pytest.raises(SettingsError, match="CARRIER_API_SECRET"):
        Settings.from_env()


def test_production_refuses_the_test_suites_cheap_password_hashing(tmp_path, monkeypatch):
    production_env(monkeypatch, tmp_path, CARRIER_API_SECRET="a-real-contract-secret", PASSWORD_HASHING="fast")
    with pytest.raises(SettingsError, match="PASSWORD_HASHING"):
        Settings.from_env()
    monkeypatch.setenv("PASSWORD_HASHING", "standard")
    assert Settings.from_env().env == "production"
    monkeypatch.setenv("RULEFLOW_ENV", "development")
    monkeypatch.setenv("PASSWORD_HASHING", "cheap")
    with pytest.raises(SettingsError, match="PASSWORD_HASHING must be standard or fast"):
        Settings.from_env()


def test_the_sandbox_carrier_is_off_in_production_unless_switched_on(tmp_path, monkeypatch):
    production_env(monkeypatch, tmp_path, CARRIER_API_SECRET="a-real-contract-secret")
    assert Settings.from_env().sandbox_carrier is False
    monkeypatch.setenv("SANDBOX_CARRIER", "on")
    assert Settings.from_env().sandbox_carrier is True
    monkeypatch.setenv("SANDBOX_CARRIER", "maybe")
    with pytest.raises(SettingsError, match="SANDBOX_CARRIER"):
        Settings.from_env()


def test_development_serves_the_sandbox_carrier_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDBOX_CARRIER", raising=False)
    monkeypatch.delenv("RULEFLOW_ENV", raising=False)
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.sandbox_carrier is True
    assert settings.carrier_api_secret == SANDBOX_CARRIER_SECRET


def test_no_proxy_is_trusted_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    assert Settings.from_env().trusted_networks == ()
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.10 ::1")
    assert Settings.from_env().trusted_proxies == ("10.0.0.0/8", "192.168.1.10/32", "::1/128")


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "proxy.internal", "10.0.0.*"])
def test_a_trusted_proxy_that_is_no_address_is_refused(tmp_path, monkeypatch, bad):
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("TRUSTED_PROXIES", bad)
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env()


@pytest.mark.parametrize("name", ["LOGIN_MAX_FAILURES", "LOGIN_BACKOFF_SECONDS", "LOGIN_ACCOUNT_MAX_FAILURES"])
def test_login_limits_below_one_are_refused(tmp_path, monkeypatch, name):
    monkeypatch.setenv("RULEFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.setenv(name, "0")
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["198.51.100.7"], "203.0.113.9"),  # not a proxy of ours: the header is ignored
        ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
        ("10.0.0.5", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # the client wrote the left hop itself
        ("10.0.0.5", ["198.51.100.7, 10.0.0.9"], "198.51.100.7"),  # two proxies of ours in a row
        ("10.0.0.5", ["not-an-ip, 10.0.0.9"], "10.0.0.9"),
        ("10.0.0.5", [], "10.0.0.5"),
        (None, ["198.51.100.7"], None),
    ],
)
def test_the_client_address_is_the_first_hop_no_trusted_proxy_vouches_for(peer, forwarded, client):
    assert forwarded_client(peer, forwarded, networks_of(("10.0.0.0/8",))) == client
