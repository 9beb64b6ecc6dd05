"""Server options: flags over environment over TOML file over defaults, documented in the README."""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from tamis.service.server import config as settings
from tamis.service.server.config import OPTIONS, ConfigError, ServeConfig, resolve
from tests.conftest import ROOT
from tests.test_server_harness import TAMIS, serving

README = ROOT / "README.md"


def flags(*arguments: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return parser.parse_args(arguments)


def test_defaults_serve_the_bundled_policies_on_50051() -> None:
    """With nothing given: 127.0.0.1:50051, ./policies, one worker."""
    config = resolve(flags(), environ={})
    assert (config.address, config.policies, config.workers) == ("127.0.0.1:50051", Path("policies"), 1)


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    """Each source overrides the ones below it, option by option."""
    file = tmp_path / "tamis.toml"
    file.write_text("port = 1111\nworkers = 2\nthreads = 40\n", encoding="utf-8")
    environ = {"TAMIS_CONFIG": str(file), "TAMIS_PORT": "2222", "TAMIS_WORKERS": "4"}
    config = resolve(flags("--port", "3333"), environ=environ)
    assert (config.port, config.workers, config.threads, config.max_batch) == (3333, 4, 40, 1000)


def test_a_relative_policies_path_in_the_file_is_relative_to_the_file(tmp_path: Path) -> None:
    """`policies = "pack"` in /etc/x/tamis.toml means /etc/x/pack."""
    file = tmp_path / "tamis.toml"
    file.write_text('policies = "pack"\nlog_listing_text = true\n', encoding="utf-8")
    config = resolve(flags("--config", str(file)), environ={})
    assert config.policies == tmp_path / "pack"
    assert config.log_listing_text is True


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TAMIS_PORT": "http"}, "TAMIS_PORT: invalid literal"),
        ({"TAMIS_WORKERS": "0"}, "TAMIS_WORKERS: must be at least 1"),
        ({"TAMIS_LOG_FORMAT": "xml"}, "TAMIS_LOG_FORMAT: expected one of auto, json, console"),
        ({"TAMIS_LOG_LISTING_TEXT": "maybe"}, "TAMIS_LOG_LISTING_TEXT: expected true or false"),
    ],
)
def test_a_bad_environment_value_names_its_variable(environ: dict[str, str], message: str) -> None:
    """The error says which variable is wrong and why."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve(flags(), environ=environ)


def test_the_log_is_fsynced_at_every_commit_unless_the_operator_says_otherwise() -> None:
    """log_sync defaults to full; normal is taken only when given."""
    assert resolve(flags(), environ={}).log_sync == "full"
    assert resolve(flags("--log-sync", "normal"), environ={}).log_sync == "normal"
    with pytest.raises(SystemExit):
        resolve(flags("--log-sync", "none"), environ={})


@pytest.mark.parametrize(
    ("log", "shown"), [("off", "log is off"), ("postgresql://u:pw@db/tamis", "log is postgresql")]
)
def test_log_sync_normal_needs_a_sqlite_log(log: str, shown: str) -> None:
    """PostgreSQL keeps its own synchronous_commit, and no log has nothing to sync; a DSN's
    password is never shown."""
    with pytest.raises(ConfigError, match=f"log_sync normal needs a SQLite verdict log \\({shown}\\)"):
        resolve(flags("--log", log, "--log-sync", "normal"), environ={})


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    """A typo in the TOML file is reported with the file and the key, not ignored."""
    file = tmp_path / "tamis.toml"
    file.write_text("prot = 50051\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tamis.toml: unknown option 'prot'"):
        resolve(flags("--config", str(file)), environ={})


def test_a_bad_flag_exits_with_a_usage_error() -> None:
    """`tamis serve --port high` exits 2 and says why."""
    result = subprocess.run(
        [str(TAMIS), "serve", "--port", "high"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_a_bad_config_file_exits_with_a_clear_error(tmp_path: Path) -> None:
    """`tamis serve --config missing.toml` exits 2 naming the file."""
    missing = tmp_path / "missing.toml"
    result = subprocess.run(
        [str(TAMIS), "serve", "--config", str(missing)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert f"cannot read configuration file {missing}" in result.stderr


def test_every_field_of_the_configuration_is_an_option() -> None:
    """OPTIONS and ServeConfig name the same options, in the same order."""
    assert [option.name for option in OPTIONS] == [field.name for field in fields(ServeConfig)]


def test_the_readme_table_lists_every_option() -> None:
    """The README's configuration table is the one generated from OPTIONS."""
    assert settings.table() in README.read_text(encoding="utf-8")


def test_the_readme_python_client_works() -> None:
    """The README's Python example runs against a server and prints the verdict."""
    text = README.read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    with serving() as served:
        code = snippet.replace("127.0.0.1:50051", served.target)
        result = subprocess.run(
            [str(TAMIS.parent / "python"), "-c", code], capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("s-003 DECISION_BLOCK sha256:")
    assert "fr.csi.r311-2.a1-14.brass-knuckles" in result.stdout


def test_streams_must_leave_threads_for_unary_calls() -> None:
    """max_streams at or above threads is refused: streams could starve health checks."""
    with pytest.raises(ConfigError, match=r"max_streams \(8\) must be below threads \(8\)"):
        resolve(flags("--threads", "8", "--max-streams", "8"), environ={})
