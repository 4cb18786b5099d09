"""Settings parsed once at the program's edge into frozen objects (STYLE.md 7).

Sources, strongest first: constructor arguments, `<PREFIX>*` environment variables, the TOML file
given to `load_settings`, then the class's defaults. Unknown keys are errors that name the key: a
typo must not silently fall back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

S = TypeVar("S", bound="TomlSettings")


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
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @classmethod
    def env_name(cls, key: str) -> str:
        """The environment variable that sets `key`."""
        return f"{cls.model_config.get('env_prefix', '')}{key.upper()}"

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
