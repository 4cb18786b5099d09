"""Settings parsed once at the program's edge into frozen objects (STYLE.md 7).

Sources, strongest first: constructor arguments, `<PREFIX>*` environment variables, the TOML file
given to `load_settings`, then the class's defaults. Unknown keys are errors that name the key: a
typo must not silently fall back to a default. That holds for the environment too: a variable with
the class's prefix that names no setting (`SOHOA_EDGE_BROKR_HOST`) is refused, naming it.

`PrivateKeyFile` is the type of a setting that holds a private key: a key other users can read
is refused (the appliance's transport key, the server's MQTT key), in one place for both; and
`TransportSettings` reads the TLS identity both meet the broker with.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from support.mqtt_types import TlsIdentity

S = TypeVar("S", bound="TomlSettings")


def _only_owner_can_read(value: Path | None) -> Path | None:
    # A private key others can read lets them pose as its owner (an appliance, the server):
    # refuse to run rather than warn.
    if value is not None and value.exists():
        mode = value.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(
                f"{value} is open to other users (mode {stat.filemode(mode)}): "
                f"run 'chmod 600 {value}'"
            )
    return value


PrivateKeyFile = Annotated[Path | None, AfterValidator(_only_owner_can_read)]
"""A setting that names a private key file: unset, not there yet, or readable by its owner only
(mode 0600 or stricter); a key open to the group or others is an error naming the file."""


class TomlSettings(BaseSettings):
    """Base of the edge's and the server's settings: frozen, strict about keys, TOML + env."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, toml_file=None)

    what: ClassVar[str] = "settings"
    """What these settings configure, for error messages ("edge", "server")."""
    error: ClassVar[type[Exception]] = ValueError
    """The exception a bad configuration raises (the owning package's ConfigError)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the TOML file (if the class names one)."""
        # `cls` is `settings_cls`, typed as ours.
        return (init_settings, _KnownVariables(cls), TomlConfigSettingsSource(settings_cls))

    @classmethod
    def env_name(cls, key: str) -> str:
        """The environment variable that sets `key`."""
        return f"{cls.model_config.get('env_prefix', '')}{key.upper()}"

    @classmethod
    def unknown_variables(cls) -> list[str]:
        """The environment variables with this class's prefix that name no setting, sorted."""
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        if not prefix:
            return []
        # pydantic-settings matches names without regard to case; so does this check.
        return sorted(
            name
            for name in os.environ
            if name.upper().startswith(prefix)
            and name[len(prefix) :].lower() not in cls.model_fields
        )

    def require_files(self, *keys: str) -> tuple[Path, ...]:
        """The paths held by `keys`, each checked to be set and to exist.

        Raises:
            error: a key is not set or its file does not exist; the message names the key.
        """
        files: list[Path] = []
        for key in keys:
            value: Path | None = getattr(self, key)
            if value is None:
                raise self.error(
                    f"{self.what} setting '{key}' is not set: give it in the TOML file or as "
                    f"{self.env_name(key)}"
                )
            if not value.is_file():
                raise self.error(f"{self.what} setting '{key}': no such file {value}")
            files.append(value)
        return tuple(files)


class TransportSettings(TomlSettings):
    """Base of the settings of a broker client over TLS (the appliance's, the server's). Each
    declares `ca_file`, `cert_file` and `key_file` itself, worded for its own readers; this
    reads them as one TLS identity."""

    def tls_identity(self) -> TlsIdentity:
        """The TLS identity for the broker connection: `ca_file`, `cert_file` and `key_file`.

        Raises:
            error: one of them is not set or does not exist; the message names the key.
        """
        ca_file, cert_file, key_file = self.require_files("ca_file", "cert_file", "key_file")
        return TlsIdentity(ca_file, cert_file, key_file)


class _KnownVariables(EnvSettingsSource):
    """The environment source, refusing a prefixed variable that names no setting (as the TOML
    source refuses an unknown key): a misspelt variable must not leave the default in force."""

    def __init__(self, settings_cls: type[TomlSettings]) -> None:
        super().__init__(settings_cls)
        self.owner = settings_cls

    def __call__(self) -> dict[str, Any]:
        """The settings the environment gives.

        Raises:
            owner.error: a variable with the prefix names no setting; the message names it.
        """
        cls = self.owner
        unknown = cls.unknown_variables()
        if unknown:
            raise cls.error(
                f"unknown {cls.what} environment variable {unknown[0]}: "
                f"{_no_such_setting(cls, unknown[0])}"
            )
        return super().__call__()


def _no_such_setting(cls: type[TomlSettings], name: str) -> str:
    # Compare what follows the prefix: the prefix alone would make every name look close.
    key = name[len(cls.env_name("")) :].lower()
    close = difflib.get_close_matches(key, list(cls.model_fields), n=1)
    if not close:
        return "it names no setting"
    return f"it names no setting (did you mean {cls.env_name(close[0])}?)"


def load_settings(cls: type[S], toml_path: Path | None = None) -> S:
    """Read `cls` from `toml_path` (optional) and the environment.

    Raises:
        cls.error: the file is missing or unreadable, or a key is unknown, missing or invalid;
            the message names the key and the file.
    """
    source = f"{toml_path}" if toml_path else "the environment"
    if toml_path is not None and not toml_path.is_file():
        raise cls.error(f"{cls.what} configuration file not found: {toml_path}")

    class FromFile(cls):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(toml_file=toml_path)

    try:
        settings = FromFile()
    except ValidationError as e:
        raise cls.error(f"invalid {cls.what} configuration in {source}: {_explain(cls, e)}") from e
    except (OSError, ValueError) as e:  # tomllib.TOMLDecodeError is a ValueError
        raise cls.error(f"cannot read {cls.what} configuration {source}: {e}") from e
    # Hand out the plain class, whatever source filled it.
    return cls.model_construct(**settings.model_dump())


def _explain(cls: type[TomlSettings], error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key '{key}'")
        elif item["type"] == "missing":
            parts.append(f"key '{key}' is required (or set {cls.env_name(key)})")
        else:
            parts.append(f"key '{key}': {item['msg']}")
    return "; ".join(parts)


def toml_text(values: Mapping[str, Any]) -> str:
    """`values` as a flat TOML document (strings, paths, numbers, booleans), one key per line:
    what `load_settings` reads back."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        else:
            text = json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML string
        lines.append(f"{key} = {text}\n")
    return "".join(lines)
