"""The server's settings: TOML file, `SOHOA_SERVER_*` variables, defaults, errors naming keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ServerSettings, load_server_settings
from server.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("SOHOA_SERVER_"):
            monkeypatch.delenv(key)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return path


def test_file_values_and_the_default_database_in_data_dir(tmp_path: Path) -> None:
    path = _toml(tmp_path, f'data_dir = "{tmp_path}"\napi_port = 9001\ningest_workers = 2\n')
    settings = load_server_settings(path)
    assert type(settings) is ServerSettings
    assert settings.api_port == 9001 and settings.ingest_workers == 2
    assert settings.api_host == "127.0.0.1"
    assert settings.database_url == f"sqlite:///{tmp_path / 'repository.db'}"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOHOA_SERVER_API_PORT", "9100")
    monkeypatch.setenv("SOHOA_SERVER_DATABASE_URL", "postgresql://sohoa@db/sohoa")
    settings = load_server_settings(_toml(tmp_path, "api_port = 9001\n"))
    assert settings.api_port == 9100
    assert settings.database_url == "postgresql://sohoa@db/sohoa"


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'brokr_host'"):
        load_server_settings(_toml(tmp_path, 'brokr_host = "mqtt"\n'))


def test_a_misspelt_variable_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_SERVER_DATABASE_URI", "postgresql://sohoa@db/sohoa")
    with pytest.raises(
        ConfigError,
        match=r"unknown server environment variable SOHOA_SERVER_DATABASE_URI: it names no "
        r"setting \(did you mean SOHOA_SERVER_DATABASE_URL\?\)",
    ):
        load_server_settings(_toml(tmp_path, "api_port = 9001\n"))


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_an_mqtt_key_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    # The same check as the appliance's transport key (support.settings.PrivateKeyFile).
    key = tmp_path / "mqtt-key.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    key.chmod(mode)
    with pytest.raises(ConfigError, match=rf"key 'key_file'.*open to other users.*chmod 600 {key}"):
        load_server_settings(_toml(tmp_path, f'key_file = "{key}"\n'))
    key.chmod(0o600)
    assert load_server_settings(_toml(tmp_path, f'key_file = "{key}"\n')).key_file == key


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'api_port'"):
        load_server_settings(_toml(tmp_path, "api_port = 70000\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_server_settings(_toml(tmp_path, "api_port = \n"))
    with pytest.raises(ConfigError, match="not found"):
        load_server_settings(tmp_path / "missing.toml")


def test_settings_are_frozen_and_mqtt_files_are_checked(tmp_path: Path) -> None:
    settings = load_server_settings(_toml(tmp_path, f'ca_file = "{tmp_path / "ca.pem"}"\n'))
    with pytest.raises(ValueError, match="frozen"):
        settings.api_port = 1
    with pytest.raises(ConfigError, match="no such file"):
        settings.tls_identity()
    with pytest.raises(ConfigError, match="'ca_file' is not set"):
        ServerSettings().tls_identity()


def test_revocation_and_ltv_settings(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        f'crl_path = "{tmp_path / "crls"}"\ntsa_url = "http://tsa.example.vn/tsr"\n'
        "tsa_timeout_s = 3.5\nltv_retry_s = 60\n",
    )
    settings = load_server_settings(path)
    assert settings.crl_path == tmp_path / "crls"
    assert settings.tsa_url == "http://tsa.example.vn/tsr" and settings.tsa_timeout_s == 3.5
    assert settings.ltv is True and settings.ltv_retry_s == 60
    defaults = ServerSettings()
    assert defaults.crl_path is None and defaults.tsa_url is None and defaults.tsa_ca_file is None
    with pytest.raises(ConfigError, match=r"key 'tsa_url'.*http"):
        load_server_settings(_toml(tmp_path, 'tsa_url = "tsa.example.vn"\n'))


def test_ingest_settings_share_group_and_client_ids(tmp_path: Path) -> None:
    key = tmp_path / "mqtt-key.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)  # a key others can read is refused
    derived = ServerSettings(key_file=key).ingest_share_group()
    assert (
        derived.startswith("ingest-")
        and derived == ServerSettings(key_file=key).ingest_share_group()
    )
    key.write_bytes(b"another key")
    assert ServerSettings(key_file=key).ingest_share_group() != derived
    settings = load_server_settings(
        _toml(
            tmp_path,
            'ingest_group = "ingest-0123456789abcdef"\ningest_client_prefix = "sohoa-w1"\n',
        )
    )
    assert settings.ingest_share_group() == "ingest-0123456789abcdef"
    assert settings.ingest_client_id(2) == "sohoa-w1-2"
    assert ServerSettings().ingest_client_id(0).startswith("sohoa-ingest-")
    with pytest.raises(ConfigError, match="key 'ingest_group'"):
        load_server_settings(_toml(tmp_path, 'ingest_group = "a/b"\n'))
    with pytest.raises(ConfigError, match="key 'ingest_client_prefix'"):
        load_server_settings(_toml(tmp_path, 'ingest_client_prefix = "a b"\n'))
    # A device's client id is its device id, and device ids never begin with "sohoa": a prefix
    # without it would let a device named like a worker take over the worker's session.
    with pytest.raises(ConfigError, match=r"key 'ingest_client_prefix'.*must begin with 'sohoa'"):
        load_server_settings(_toml(tmp_path, 'ingest_client_prefix = "w1"\n'))
    with pytest.raises(ConfigError, match="'key_file' is not set"):
        ServerSettings().ingest_share_group()
