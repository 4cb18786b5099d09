"""The appliance's settings: TOML file, `SOHOA_EDGE_*` variables, errors naming the key or the
variable, and a transport key other users can read refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.config import EdgeSettings, load_edge_settings
from edge.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("SOHOA_EDGE_"):
            monkeypatch.delenv(key)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(f'device_id = "commune-07.kiosk"\n{text}')
    return path


def test_file_values_and_the_environment_over_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _toml(tmp_path, 'broker_host = "mqtt.tinh.vn"\nbroker_port = 8884\n')
    monkeypatch.setenv("SOHOA_EDGE_BROKER_PORT", "9883")
    settings = load_edge_settings(path)
    assert type(settings) is EdgeSettings
    assert (settings.broker_host, settings.broker_port) == ("mqtt.tinh.vn", 9883)


def test_unknown_key_in_the_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'brokr_host'"):
        load_edge_settings(_toml(tmp_path, 'brokr_host = "mqtt"\n'))


def test_a_misspelt_variable_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_EDGE_BROKR_HOST", "mqtt.tinh.vn")
    with pytest.raises(
        ConfigError,
        match=r"unknown edge environment variable SOHOA_EDGE_BROKR_HOST: it names no setting "
        r"\(did you mean SOHOA_EDGE_BROKER_HOST\?\)",
    ):
        load_edge_settings(_toml(tmp_path, ""))
    with pytest.raises(ConfigError, match="SOHOA_EDGE_BROKR_HOST"):
        EdgeSettings(device_id="commune-07.kiosk")  # built in code, the environment still counts


def test_variables_are_matched_without_regard_to_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("sohoa_edge_broker_host", "mqtt.tinh.vn")  # as pydantic-settings reads it
    assert load_edge_settings(_toml(tmp_path, "")).broker_host == "mqtt.tinh.vn"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_transport_key_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "transport-key.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    key.chmod(mode)
    with pytest.raises(ConfigError, match=rf"key 'key_file'.*open to other users.*chmod 600 {key}"):
        load_edge_settings(_toml(tmp_path, f'key_file = "{key}"\n'))
    key.chmod(0o600)
    assert load_edge_settings(_toml(tmp_path, f'key_file = "{key}"\n')).key_file == key
