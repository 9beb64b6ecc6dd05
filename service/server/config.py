"""Server options, from command-line flags, TAMIS_* environment variables and a TOML file.

Precedence: a flag wins over the environment, which wins over the TOML file, which wins over
the defaults. Every option is declared once in OPTIONS (name, type, default, meaning); the
flags, the environment variables, the TOML keys and the README's table all follow from it.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tamis.engine import Limits
from tamis.service.server.access import NO_ACCESS, Access, parse_access
from tamis.service.server.tls import is_loopback, pem_file, private_key_file
from tamis.service.verdictlog.location import SYNC_MODES, is_postgres, open_database

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
    log_sync: str = "full"
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
    # --- metrics (service/server/metrics.py)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    metrics_public: bool = False
    # --- tracing (service/server/tracing.py)
    trace_endpoint: str | None = None
    # --- trust: TLS and roles, signed checkpoints, per-caller limits --------------------------
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    access: Access = NO_ACCESS
    insecure: bool = False
    checkpoint_key: Path | None = None
    checkpoint_dir: Path | None = None
    checkpoint_interval: float = 300.0
    max_streams_per_caller: int = 8
    stream_idle_timeout: float = 60.0
    audit_calls_per_caller: int = 2

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


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be more than 0, got {value}")
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


def _metrics_port(text: str) -> int | None:
    return None if text.strip() == "off" else _port(text)


def _trace_endpoint(text: str) -> str | None:
    """`off`, or an http(s) URL (plain http to a loopback address only); needs tamis[tracing]."""
    endpoint = text.strip()
    if endpoint == "off":
        return None
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("expected an http:// or https:// URL, e.g. http://127.0.0.1:4318/v1/traces, or off")
    if url.scheme == "http" and not _loopback(url.hostname):
        raise ValueError("traces go in clear text over http: use https, or a collector on a loopback address")
    try:
        installed = importlib.util.find_spec("opentelemetry.sdk") is not None
    except ModuleNotFoundError:
        installed = False
    if not installed:
        raise ValueError("OpenTelemetry is not installed: pip install 'tamis[tracing]'")
    return endpoint


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


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
    Option(
        "log_sync",
        _choice(*SYNC_MODES),
        "full: a verdict is returned once its log commit is on disk (fsync); normal (SQLite only): once "
        "committed, on disk at the next checkpoint: a power cut or system crash may lose the newest "
        "verdicts returned (never a process crash; the chains stay whole)",
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
    # --- metrics (service/server/metrics.py)
    Option(
        "metrics_host",
        str,
        "address of the Prometheus /metrics endpoint (plain HTTP; loopback unless metrics_public)",
    ),
    Option(
        "metrics_port",
        _metrics_port,
        "port of the Prometheus /metrics endpoint; off: none; 0 picks a free one",
    ),
    Option(
        "metrics_public", _boolean, "allow a metrics_host other than loopback (metrics travel in clear text)"
    ),
    # --- tracing (service/server/tracing.py)
    Option(
        "trace_endpoint",
        _trace_endpoint,
        "OTLP/HTTP endpoint for OpenTelemetry traces of calls (http://127.0.0.1:4318/v1/traces); off: none",
    ),
    # --- trust: TLS and roles, signed checkpoints, per-caller limits --------------------------
    Option("tls_cert", pem_file, "PEM certificate chain the server presents; with tls_key, serves TLS"),
    Option("tls_key", pem_file, "PEM private key of tls_cert (keep it 0600)"),
    Option(
        "client_ca",
        pem_file,
        "PEM CA certificates; with it every caller needs a client certificate they signed (mutual TLS)",
    ),
    Option(
        "access",
        parse_access,
        "roles of authenticated callers: a TOML table `[access]` of evaluate / audit / admin lists of "
        "identities (flag and environment: an inline table)",
    ),
    Option("insecure", _boolean, "allow listening off loopback without mutual TLS (never in production)"),
    Option(
        "checkpoint_key",
        private_key_file,
        "Ed25519 private key (PEM, mode 0600, from `tamis audit keygen`) signing checkpoints of the log",
    ),
    Option("checkpoint_dir", Path, "directory the signed checkpoints are written to; ship it off the box"),
    Option("checkpoint_interval", _positive_seconds, "seconds between signed checkpoints (one more on stop)"),
    Option("max_streams_per_caller", _positive_int, "open EvaluateStream calls one caller may hold"),
    Option(
        "stream_idle_timeout",
        _positive_seconds,
        "seconds a stream may go without a message before it is cancelled",
    ),
    Option(
        "audit_calls_per_caller",
        _positive_int,
        "ReplayVerdict and VerifyLog calls one caller may have under way (they run in worker processes)",
    ),
)
#: Options naming files, which a TOML file gives relative to itself.
_FILES = ("policies", "tls_cert", "tls_key", "client_ca", "checkpoint_key", "checkpoint_dir")
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
    _check_trust(config)
    if config.max_streams >= config.threads:
        raise ConfigError(
            f"max_streams ({config.max_streams}) must be below threads ({config.threads}), "
            "so that streams cannot take every thread from unary calls and health checks"
        )
    _check_metrics_host(config)
    return config


def _check_metrics_host(config: ServeConfig) -> None:
    """Metrics are plain HTTP: off loopback only when the operator says so."""
    if config.metrics_port is None or config.metrics_public:
        return
    if not _loopback(config.metrics_host):
        raise ConfigError(
            f"metrics_host {config.metrics_host[:100]!r} is not a loopback address; the metrics are "
            "served in clear text: set metrics_public to expose them anyway"
        )


def _check_trust(config: ServeConfig) -> None:
    """Secure by default: no clear text and no anonymous callers off loopback, no role unenforced."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls_cert and tls_key go together: give both to serve TLS, or neither")
    if config.client_ca is not None and config.tls_cert is None:
        raise ConfigError("client_ca needs tls_cert and tls_key: client certificates are checked over TLS")
    if config.client_ca is not None and not config.access.grants_any:
        raise ConfigError(
            "client_ca is set but the [access] table grants no role: every call would be refused; "
            "list the callers' identities under evaluate, audit or admin"
        )
    if config.client_ca is None and config.access.grants_any:
        raise ConfigError(
            "the [access] table needs client_ca: without client certificates no caller is "
            "authenticated, so roles cannot be enforced"
        )
    if (config.checkpoint_key is None) != (config.checkpoint_dir is None):
        raise ConfigError("checkpoint_key and checkpoint_dir go together: a key signs, a directory keeps")
    if config.log_sync != "full" and (config.log == "off" or is_postgres(config.log)):
        raise ConfigError(
            f"log_sync {config.log_sync} needs a SQLite verdict log (log is {_shown_log(config.log)})"
        )
    if config.checkpoint_key is not None and config.log == "off":
        raise ConfigError("checkpoint_key needs a verdict log to checkpoint (log is off)")
    if config.client_ca is None and not config.insecure and not is_loopback(config.host):
        missing = "TLS" if config.tls_cert is None else "client certificates (client_ca)"
        raise ConfigError(
            f"refusing to listen on {config.host} without {missing}: anyone who reaches the port could "
            "evaluate, read the verdict log and sign verdicts with any name. Give tls_cert, tls_key "
            "and client_ca (mutual TLS), listen on 127.0.0.1, or pass --insecure to accept the risk"
        )


def _shown_log(location: str) -> str:
    """`off`, `sqlite:…` or `postgresql` (a DSN may hold a password: never shown)."""
    return "postgresql" if is_postgres(location) else location[:100]


def read_toml(path: Path) -> dict[str, Any]:
    """Options from a TOML file of top-level keys (and the `[access]` table); a relative path of a
    file or directory (policies, TLS and checkpoint files) is relative to the TOML file."""
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
        if option.parse is parse_access:
            values[key] = _parse(option, value, f"{path}: [{key}]")
            continue
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {key}: expected a single value, got {type(value).__name__}")
        if option.parse is _boolean and not isinstance(value, bool):
            raise ConfigError(f"{path}: {key}: expected true or false, got {value!r}")
        relative = key in _FILES and isinstance(value, str)
        values[key] = _parse(option, str(path.parent / value if relative else value), f"{path}: {key}")
    return values


def _parse(option: Option, text: Any, where: str) -> Any:
    try:
        return option.parse(text)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from error


def table(options: Sequence[Option] = OPTIONS) -> str:
    """The README's configuration table (Markdown)."""
    rows = ["| option | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for option in options:
        default = option.default
        shown = (
            str(default).lower() if isinstance(default, bool) else "off" if default is None else str(default)
        )
        if isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = "none" if default in (None, NO_ACCESS) else str(default)
        rows.append(f"| `{option.name}` | `{option.flag}` | `{option.env}` | `{shown}` | {option.meaning} |")
    return "\n".join(rows)
