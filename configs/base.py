"""Shared pydantic-settings behaviour: one env prefix, `.env`, CLI flags (CLI > env > .env > defaults)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

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


T = TypeVar("T")
#: A list setting: the flag repeated, a comma list, or (as an env var) one comma-separated string.
CommaList = Annotated[list[T], NoDecode, BeforeValidator(comma_list)]


def rename_flags(argv: Sequence[str], names: dict[str, str]) -> list[str]:
    """`argv` with each flag in `names` (``--old`` or ``--old=value``) spelled ``names[old]``."""
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        out.append(names[flag] + eq + value if flag in names else arg)
    return out


class Settings(BaseSettings):
    """Base class; subclasses add fields and call `settings_config` for their model_config."""

    #: Other spellings of a flag, accepted silently: alias -> the field's flag.
    cli_aliases: ClassVar[dict[str, str]] = {}
    #: Old spellings of renamed flags, still accepted with a warning: old -> new.
    cli_renamed: ClassVar[dict[str, str]] = {}

    @classmethod
    def cli_args(cls, argv: Sequence[str] | None = None) -> list[str]:
        """CLI args (None = sys.argv[1:]) with aliases and renamed flags spelled as fields."""
        args = list(sys.argv[1:] if argv is None else argv)
        for old in dict.fromkeys(a.partition("=")[0] for a in args if
                                 a.partition("=")[0] in cls.cli_renamed):
            log.warning("%s is now %s (the old spelling still works, for now)", old,
                        cls.cli_renamed[old])
        return rename_flags(args, {**cls.cli_aliases, **cls.cli_renamed})

    @classmethod
    def renamed_env(cls) -> dict[str, str]:
        """Values of renamed settings still given under their old env var names (with a
        warning), as init values: they rank below CLI flags and above the environment."""
        values = {}
        for old, new in cls.cli_renamed.items():
            old_var = ENV_PREFIX + old.lstrip("-").replace("-", "_").upper()
            field = new.lstrip("-").replace("-", "_")
            if old_var in os.environ and ENV_PREFIX + field.upper() not in os.environ:
                log.warning("%s is now %s%s (the old name still works, for now)", old_var,
                            ENV_PREFIX, field.upper())
                values[field] = os.environ[old_var]
        return values

    @classmethod
    def from_cli(cls, argv: Sequence[str] | None = None):
        """Build settings from CLI args (None = sys.argv[1:]), env, `.env` and defaults."""
        return cls(_cli_parse_args=cls.cli_args(argv), **cls.renamed_env())
