"""Server options, from command-line flags, TAMIS_* environment variables and a TOML file.

Precedence: a flag wins over the environment, which wins over the TOML file, which wins over
the defaults. Every option is declared once in OPTIONS (name, type, default, meaning); the
flags, the environment variables, the TOML keys and the README's table all follow from it.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine import Limits
from service.verdictlog.location import open_database

_LIMITS = Limits()

LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """An option with a bad value; the message names where it came from."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything `tamis serve` can be told (see OPTIONS for the meaning of each field)."""

    host: str = "127.0.0.1"
    port: int = 50051
    policies: Path = Path("policies")
    log: str = "sqlite:var/verdicts.sqlite3"
    workers: int = 1
    threads: int = 64
    max_streams: int = 32
    reload_interval: float = 1.0
    grace: float = 20.0
    max_message_bytes: int = 8 * 1024 * 1024
    max_batch: int = 1000
    max_listing_bytes: int = _LIMITS.max_listing_bytes
    max_text_chars: int = _LIMITS.max_text_chars
    max_attributes: int = _LIMITS.max_attributes
    max_ship_to: int = _LIMITS.max_ship_to
    max_list_items: int = _LIMITS.max_list_items
    max_listing_ms: int = _LIMITS.max_listing_ms
    log_format: str = "auto"
    log_level: str = "info"
    log_listing_text: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def limits(self) -> Limits:
        return Limits(
            max_text_chars=self.max_text_chars,
            max_attributes=self.max_attributes,
            max_ship_to=self.max_ship_to,
            max_list_items=self.max_list_items,
            max_listing_bytes=self.max_listing_bytes,
            max_listing_ms=self.max_listing_ms,
        )


@dataclass(frozen=True)
class Option:
    """One option: its field in ServeConfig, how to parse it from text, and what it means."""

    name: str
    parse: Callable[[str], Any]
    meaning: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "TAMIS_" + self.name.upper()

    @property
    def default(self) -> Any:
        return getattr(ServeConfig(), self.name)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number from 0 to 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _log_location(text: str) -> str:
    """`off`, `sqlite:PATH` (or a bare path) or a PostgreSQL DSN; checked, not opened."""
    location = text.strip()
    if location == "off":
        return location
    try:
        open_database(location, create=True)
    except ValueError as error:
        raise ValueError(f"{error}; or off to keep no log") from error
    return location


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "address to listen on (0.0.0.0 for every interface)"),
    Option("port", _port, "TCP port; 0 picks a free one (logged in the `listening` event)"),
    Option("policies", Path, "policy pack directory, watched for changes"),
    Option(
        "log",
        _log_location,
        "verdict log: sqlite:PATH, a postgresql:// DSN, or off; verdicts are logged before they are returned",
    ),
    Option("workers", _positive_int, "server processes sharing the port (SO_REUSEPORT); one engine each"),
    Option("threads", _positive_int, "concurrent calls per process (each open stream holds one)"),
    Option("max_streams", _positive_int, "open EvaluateStream calls per process; must be below threads"),
    Option("reload_interval", _seconds, "seconds between checks of the policy directory; 0: only on SIGHUP"),
    Option("grace", _seconds, "seconds in-flight calls get to finish on SIGTERM"),
    Option("max_message_bytes", _positive_int, "largest gRPC message accepted or sent"),
    Option("max_batch", _positive_int, "most listings in one EvaluateStream message"),
    Option("max_listing_bytes", _positive_int, "largest encoded listing"),
    Option("max_text_chars", _positive_int, "longest text field of a listing, in characters"),
    Option("max_attributes", _positive_int, "most attributes on a listing"),
    Option("max_ship_to", _positive_int, "most countries in a listing's ship_to"),
    Option("max_list_items", _positive_int, "most items in a list attribute (e.g. contains)"),
    Option(
        "max_listing_ms",
        _positive_int,
        "processor time one listing's text may take to read, in ms; beyond it the listing gets an error",
    ),
    Option("log_format", _choice(*LOG_FORMATS), "json, console, or auto: console when stderr is a terminal"),
    Option("log_level", _choice(*LOG_LEVELS), "least severe level logged; requests log at info"),
    Option("log_listing_text", _boolean, "add listing titles to request logs (off: ids only)"),
)
_BY_NAME = {option.name: option for option in OPTIONS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option; unset flags stay None so that the environment and file apply."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE.toml",
        help="TOML file of options (default: $TAMIS_CONFIG, else none)",
    )
    for option in OPTIONS:
        default = f"${option.env}, else {option.default}"
        if option.parse is _boolean:
            parser.add_argument(
                option.flag,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{option.meaning} ({default})",
            )
        else:
            parser.add_argument(
                option.flag,
                type=_flag_type(option),
                default=None,
                metavar=option.name.upper(),
                help=f"{option.meaning} (default: {default})",
            )


def _flag_type(option: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return parse


def resolve(flags: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None) -> ServeConfig:
    """The configuration: flags over environment over TOML file over defaults."""
    environ = os.environ if environ is None else environ
    config = ServeConfig()
    config_file = getattr(flags, "config", None) or (
        Path(environ["TAMIS_CONFIG"]) if environ.get("TAMIS_CONFIG") else None
    )
    if config_file is not None:
        config = replace(config, **read_toml(config_file))
    from_env: dict[str, Any] = {}
    for option in OPTIONS:
        text = environ.get(option.env)
        if text is not None and text != "":
            from_env[option.name] = _parse(option, text, option.env)
    config = replace(config, **from_env)
    given = {
        option.name: getattr(flags, option.name)
        for option in OPTIONS
        if flags is not None and getattr(flags, option.name, None) is not None
    }
    config = replace(config, **given)
    if config.max_streams >= config.threads:
        raise ConfigError(
            f"max_streams ({config.max_streams}) must be below threads ({config.threads}), "
            "so that streams cannot take every thread from unary calls and health checks"
        )
    return config


def read_toml(path: Path) -> dict[str, Any]:
    """Options from a TOML file of top-level keys; a relative `policies` is relative to the file."""
    try:
        with path.open("rb") as source:
            data = tomllib.load(source)
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from error
    values: dict[str, Any] = {}
    for key, value in data.items():
        option = _BY_NAME.get(key)
        if option is None:
            raise ConfigError(f"{path}: unknown option {key!r}; expected one of {', '.join(_BY_NAME)}")
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {key}: expected a single value, got {type(value).__name__}")
        if option.parse is _boolean and not isinstance(value, bool):
            raise ConfigError(f"{path}: {key}: expected true or false, got {value!r}")
        parsed = _parse(option, str(value), f"{path}: {key}")
        if key == "policies" and not parsed.is_absolute():
            parsed = path.parent / parsed
        values[key] = parsed
    return values


def _parse(option: Option, text: str, where: str) -> Any:
    try:
        return option.parse(text)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from error


def table(options: Sequence[Option] = OPTIONS) -> str:
    """The README's configuration table (Markdown)."""
    rows = ["| option | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for option in options:
        default = option.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        rows.append(f"| `{option.name}` | `{option.flag}` | `{option.env}` | `{shown}` | {option.meaning} |")
    return "\n".join(rows)
