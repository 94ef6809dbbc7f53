"""Shared pydantic-settings behaviour: one env prefix, `.env`, CLI flags (CLI > env > .env > defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MELANOMA_"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE_DIR = REPO_ROOT / "models" / "default"


def settings_config(prog: str) -> SettingsConfigDict:
    """Settings config shared by every entry point.

    Args:
        prog: program name shown in `--help`.

    Returns:
        A SettingsConfigDict: env prefix MELANOMA_, `.env` in the working directory, unknown
        variables ignored (one `.env` serves all entry points), kebab-case CLI flags.
    """
    return SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8",
                              extra="ignore", cli_kebab_case=True, cli_prog_name=prog,
                              cli_implicit_flags=True, cli_avoid_json=True,
                              validate_default=True)


def comma_list(value: Any) -> Any:
    """A list field's raw value as a list: env values arrive as one string, CLI flags as a
    list of strings; either may hold comma lists. Anything else is left to pydantic."""
    items = [value] if isinstance(value, (str, Path)) else value
    if isinstance(items, list):
        return [part.strip() for item in items for part in str(item).split(",")
                if part.strip()]
    return value


class Settings(BaseSettings):
    """Base class; subclasses add fields and call `settings_config` for their model_config."""

    @classmethod
    def from_cli(cls, argv: list[str] | None = None):
        """Build settings from CLI args (None = sys.argv[1:]), env, `.env` and defaults."""
        return cls(_cli_parse_args=argv if argv is not None else True)
