"""Mutual TLS, authenticated callers and roles, through the real server with real certificates.

Each test makes its own CA and certificates (tests/tls_support.py). The [access] table grants
`evaluate` to a SPIFFE id and a DNS name, `audit` to a compliance service and `admin` to ops.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tamis.service.server import config as settings
from tamis.service.server.access import Access, parse_access
from tamis.service.server.app import EXIT_BAD_KEYS, run
from tamis.service.server.config import ConfigError, ServeConfig
from tamis.service.verdictlog import open_database
from tamis.service.verdictlog.records import Caller
from tamis.service.verdictlog.sink import LogSink
from tamis.v1 import audit_pb2, audit_pb2_grpc, policy_service_pb2, policy_service_pb2_grpc
from tests.conftest import POLICIES
from tests.test_server_harness import PATIENCE, TAMIS, Served, proto_listing, sample, serving
from tests.tls_support import Authority, Credentials, channel

CHECKOUT = "spiffe://market.example/checkout"
SCANNER = "catalogue-scanner.market.example"
COMPLIANCE = "compliance.market.example"
OPS = "ops.market.example"
ACCESS = Access(
    evaluate=frozenset({CHECKOUT, SCANNER}), audit=frozenset({COMPLIANCE}), admin=frozenset({OPS})
)


@dataclass
class Secured:
    """A server under mutual TLS, its CA, and a way to call it as someone."""

    served: Served
    authority: Authority

    def channel(self, client: Credentials | None, authority: Authority | None = None) -> grpc.Channel:
        return channel(self.served.server.port, authority or self.authority, client)

    def evaluate(self, client: Credentials | None, **kwargs: Any) -> policy_service_pb2.EvaluateResponse:
        with self.channel(client) as open_channel:
            stub = policy_service_pb2_grpc.PolicyServiceStub(open_channel)
            request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")))
            response: policy_service_pb2.EvaluateResponse = stub.Evaluate(request, timeout=PATIENCE, **kwargs)
            return response


def tls_options(directory: Path, authority: Authority) -> dict[str, Any]:
    cert, key = authority.server().write(directory, "server")
    ca = directory / "ca.crt"
    ca.write_bytes(authority.pem)
    return {"tls_cert": cert, "tls_key": key, "client_ca": ca, "access": ACCESS}


@contextmanager
def secured(tmp_path: Path, **options: Any) -> Iterator[Secured]:
    authority = Authority()
    with serving(POLICIES, **{**tls_options(tmp_path / "tls", authority), **options}) as served:
        yield Secured(served, authority)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Secured]:
    with secured(tmp_path) as secure:
        yield secure


def refused(call: Any, request: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=PATIENCE, **kwargs)
    return error.value


# --- identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "identity"),
    [
        ({"cn": "checkout-cn", "uris": [CHECKOUT], "dns": ["checkout.market.example"]}, CHECKOUT),
        ({"cn": "scanner-cn", "dns": [SCANNER, "other.market.example"]}, SCANNER),
        ({"cn": SCANNER}, SCANNER),
    ],
    ids=["uri-san", "first-dns-san", "common-name"],
)
def test_the_caller_recorded_is_the_certificate_identity(
    server: Secured, names: dict[str, Any], identity: str
) -> None:
    """URI SAN, else the first DNS SAN, else the subject CN is the caller recorded with the verdict."""
    verdict = server.evaluate(server.authority.client(**names)).verdict
    (recorded,) = server.served.sink.records
    assert recorded.verdict_id == verdict.verdict_id
    assert recorded.caller == Caller(identity, "")
    (event,) = server.served.log.events("request")
    assert event["caller"] == identity


def test_a_spoofed_tamis_caller_is_only_a_claim(server: Secured) -> None:
    """A scanner naming ops in tamis-caller is recorded as the scanner, with the claim beside it,
    and gains none of ops' rights."""
    scanner = server.authority.client(dns=[SCANNER])
    server.evaluate(scanner, metadata=(("tamis-caller", OPS),))
    (recorded,) = server.served.sink.records
    assert recorded.caller == Caller(SCANNER, OPS)
    with server.channel(scanner) as open_channel:
        stub = policy_service_pb2_grpc.PolicyServiceStub(open_channel)
        error = refused(
            stub.GetBundle, policy_service_pb2.GetBundleRequest(), metadata=(("tamis-caller", OPS),)
        )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        ("x" * 129, grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * (1 << 20), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
    ids=["too-long", "one-megabyte"],
)
def test_a_claimed_caller_that_cannot_be_shown_is_refused(
    server: Secured, claim: str, code: grpc.StatusCode
) -> None:
    """A tamis-caller over 128 characters is refused, not cut; a megabyte of it is refused by
    gRPC's metadata limit. Nothing is recorded. (Control characters never arrive: HTTP/2 header
    values are printable ASCII, and gRPC clients refuse to send others.)"""
    with server.channel(server.authority.client(uris=[CHECKOUT])) as open_channel:
        stub = policy_service_pb2_grpc.PolicyServiceStub(open_channel)
        request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")))
        error = refused(stub.Evaluate, request, metadata=(("tamis-caller", claim),))
    assert error.code() == code
    assert len(error.details() or "") < 300
    assert server.served.sink.records == []


# --- who may connect ----------------------------------------------------------------------------


def test_a_caller_without_a_certificate_cannot_connect(server: Secured) -> None:
    """The TLS handshake requires a client certificate: no call reaches the server."""
    error = refused(
        policy_service_pb2_grpc.PolicyServiceStub(server.channel(None)).Evaluate,
        policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert server.served.sink.records == []
    assert server.served.log.events("request") == []


def test_a_certificate_from_an_unknown_ca_cannot_connect(server: Secured) -> None:
    """A certificate naming an authorised caller but signed by another CA is refused."""
    impostor = Authority("Impostor CA").client(uris=[CHECKOUT])
    with server.channel(impostor) as open_channel:
        error = refused(
            policy_service_pb2_grpc.PolicyServiceStub(open_channel).Evaluate,
            policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
        )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert server.served.sink.records == []


def test_a_client_refuses_a_server_from_another_ca(server: Secured) -> None:
    """The server proves itself too: a client trusting another CA does not talk to it."""
    other = Authority("Other CA")
    with server.channel(server.authority.client(uris=[CHECKOUT]), authority=other) as open_channel:
        error = refused(
            policy_service_pb2_grpc.PolicyServiceStub(open_channel).Evaluate,
            policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
        )
    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_a_common_name_with_a_bidi_override_is_unauthenticated(server: Secured) -> None:
    """A CN that would display as another name (U+202E reverses the text after it) is refused."""
    client = server.authority.issue("elpmaxe.tekram.spo\u202e", [])
    with server.channel(client) as open_channel:
        error = refused(
            policy_service_pb2_grpc.PolicyServiceStub(open_channel).Evaluate,
            policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
        )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "names",
    [
        [x509.DNSName("evil\x07.market.example")],
        [x509.UniformResourceIdentifier("spiffe://market.example/" + "a" * 600)],
        [x509.UniformResourceIdentifier("spiffe://market.example/checkout\n200 OK")],
        [x509.UniformResourceIdentifier("")],
    ],
    ids=["control-character", "huge-uri", "newline", "empty-uri"],
)
def test_a_certificate_with_an_unusable_name_is_unauthenticated(
    server: Secured, names: list[x509.GeneralName]
) -> None:
    """A name with control characters or over 512 characters is refused, never cut to a match."""
    client = server.authority.issue(CHECKOUT, names)
    with server.channel(client) as open_channel:
        error = refused(
            policy_service_pb2_grpc.PolicyServiceStub(open_channel).Evaluate,
            policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))),
        )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert server.served.sink.records == []
    (denied,) = server.served.log.events("access denied")
    assert denied["code"] == "UNAUTHENTICATED"


# --- roles ----------------------------------------------------------------------------------------


def _call(secure: Secured, client: Credentials, method: str) -> grpc.StatusCode:
    """Call `method` as `client`; the status code it ends with."""
    with secure.channel(client) as open_channel:
        policy = policy_service_pb2_grpc.PolicyServiceStub(open_channel)
        audit = audit_pb2_grpc.AuditServiceStub(open_channel)
        calls = {
            "Evaluate": lambda: policy.Evaluate(
                policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003"))), timeout=PATIENCE
            ),
            "EvaluateStream": lambda: list(
                policy.EvaluateStream(
                    iter(
                        [policy_service_pb2.EvaluateStreamRequest(listings=[proto_listing(sample("s-003"))])]
                    ),
                    timeout=PATIENCE,
                )
            ),
            "GetBundle": lambda: policy.GetBundle(policy_service_pb2.GetBundleRequest(), timeout=PATIENCE),
            "VerifyLog": lambda: audit.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=PATIENCE),
            "Health": lambda: health_pb2_grpc.HealthStub(open_channel).Check(
                health_pb2.HealthCheckRequest(), timeout=PATIENCE
            ),
        }
        try:
            calls[method]()
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
    return grpc.StatusCode.OK


def test_each_role_reaches_its_methods_and_no_others(server: Secured) -> None:
    """evaluate: PolicyService's Evaluate and EvaluateStream; audit: AuditService; admin: both and
    GetBundle; health: any authenticated caller; an identity with no role: health only."""
    ok, denied = grpc.StatusCode.OK, grpc.StatusCode.PERMISSION_DENIED
    # --log off: the AuditService answers FAILED_PRECONDITION once the caller is let in
    admitted = grpc.StatusCode.FAILED_PRECONDITION
    authority = server.authority
    expected = {
        "evaluate": (authority.client(uris=[CHECKOUT]), [ok, ok, denied, denied, ok]),
        "audit": (authority.client(dns=[COMPLIANCE]), [denied, denied, denied, admitted, ok]),
        "admin": (authority.client(OPS), [ok, ok, ok, admitted, ok]),
        "nobody": (authority.client(uris=["spiffe://market.example/unknown"]), [denied] * 4 + [ok]),
    }
    methods = ["Evaluate", "EvaluateStream", "GetBundle", "VerifyLog", "Health"]
    for role, (client, codes) in expected.items():
        assert [_call(server, client, method) for method in methods] == codes, role
    denials = server.served.log.events("access denied")
    assert {(event["caller"], event["method"]) for event in denials} >= {
        (CHECKOUT, "/tamis.v1.PolicyService/GetBundle"),
        (COMPLIANCE, "/tamis.v1.PolicyService/Evaluate"),
    }


def test_audit_reads_are_logged_with_who_asked(tmp_path: Path) -> None:
    """Each AuditService call logs an `audit` event naming the caller and what it asked for."""
    location = f"sqlite:{tmp_path / 'verdicts.sqlite3'}"
    sink = LogSink(open_database(location))
    with secured(tmp_path, sink=sink, log=location) as secure:
        secure.evaluate(secure.authority.client(uris=[CHECKOUT]))
        with secure.channel(secure.authority.client(dns=[COMPLIANCE])) as open_channel:
            audit = audit_pb2_grpc.AuditServiceStub(open_channel)
            page = audit.QueryVerdicts(audit_pb2.QueryVerdictsRequest(seller_id="seller-9"), timeout=PATIENCE)
            everything = audit.QueryVerdicts(audit_pb2.QueryVerdictsRequest(), timeout=PATIENCE)
        events = secure.served.log.events("audit")
    assert list(page.verdicts) == []
    assert [v.caller for v in everything.verdicts] == [CHECKOUT]
    assert [(e["caller"], e["method"], e.get("seller_id"), e["code"]) for e in events] == [
        (COMPLIANCE, "QueryVerdicts", "seller-9", "OK"),
        (COMPLIANCE, "QueryVerdicts", None, "OK"),
    ]


# --- certificates on disk -------------------------------------------------------------------------


def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    """Replacing the server's certificate and key (signed by a new CA) takes effect for new
    connections; a client trusting only the new CA then connects."""
    with secured(tmp_path) as secure:
        client = secure.authority.client(uris=[CHECKOUT])
        assert secure.evaluate(client).verdict.listing_id == "s-003"
        renewed = Authority("Renewed CA")
        staging = tmp_path / "staging"
        cert, key = renewed.server().write(staging, "server")
        shutil.move(cert, tmp_path / "tls" / "server.crt")  # a rename, as certificate managers do
        shutil.move(key, tmp_path / "tls" / "server.key")
        with secure.channel(client, authority=renewed) as open_channel:
            stub = policy_service_pb2_grpc.PolicyServiceStub(open_channel)
            request = policy_service_pb2.EvaluateRequest(listing=proto_listing(sample("s-003")))
            assert stub.Evaluate(request, timeout=PATIENCE).verdict.listing_id == "s-003"
        (reloaded,) = secure.served.log.events("tls reloaded")
        assert reloaded["level"] == "info"


def test_a_key_that_does_not_match_its_certificate_stops_the_server(tmp_path: Path) -> None:
    """`tamis serve` exits 2 naming the key file, before listening."""
    authority = Authority()
    options = tls_options(tmp_path, authority)
    authority.server().write(tmp_path / "other", "server")
    options["tls_key"] = tmp_path / "other" / "server.key"
    config = ServeConfig(port=0, policies=POLICIES, log="off", **options)
    assert run(config) == EXIT_BAD_KEYS


def test_the_access_table_reads_from_toml_text() -> None:
    """The inline form a flag or TAMIS_ACCESS takes is the TOML table's."""
    assert parse_access(f'{{evaluate = ["{CHECKOUT}"], admin = ["{OPS}"]}}') == Access(
        evaluate=frozenset({CHECKOUT}), admin=frozenset({OPS})
    )
    with pytest.raises(ValueError, match="unknown role 'root'"):
        parse_access('{root = ["x"]}')
    with pytest.raises(ValueError, match="not printable"):
        parse_access('{audit = ["a\\u0007b"]}')


# --- configuration ------------------------------------------------------------------------------


def _resolve(*arguments: str, environ: dict[str, str] | None = None) -> ServeConfig:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return settings.resolve(parser.parse_args(arguments), environ=environ or {})


def test_clear_text_off_loopback_is_refused_unless_insecure() -> None:
    """0.0.0.0 without TLS is refused with the reason; --insecure accepts the risk; loopback is fine."""
    with pytest.raises(
        ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without TLS: anyone who reaches"
    ):
        _resolve("--host", "0.0.0.0")
    assert _resolve("--host", "0.0.0.0", "--insecure").insecure is True
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.8.9.10"):
        assert _resolve("--host", host).host == host


def test_tls_without_client_certificates_off_loopback_is_refused(tmp_path: Path) -> None:
    """TLS alone encrypts but authenticates nobody: off loopback it needs client_ca (or --insecure)."""
    options = tls_options(tmp_path, Authority())
    cert, key = str(options["tls_cert"]), str(options["tls_key"])
    with pytest.raises(ConfigError, match=r"without client certificates \(client_ca\)"):
        _resolve("--host", "0.0.0.0", "--tls-cert", cert, "--tls-key", key)
    config = _resolve(
        "--host",
        "0.0.0.0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--client-ca",
        str(options["client_ca"]),
        environ={"TAMIS_ACCESS": f'{{evaluate = ["{CHECKOUT}"]}}'},
    )
    assert config.access == Access(evaluate=frozenset({CHECKOUT}))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tls-cert", "{cert}"], "tls_cert and tls_key go together"),
        (["--client-ca", "{ca}"], "client_ca needs tls_cert and tls_key"),
        (["--tls-cert", "{cert}", "--tls-key", "{key}", "--client-ca", "{ca}"], "grants no role"),
        (["--access", '{{audit = ["x"]}}'], "the [access] table needs client_ca"),
    ],
)
def test_inconsistent_trust_options_are_refused(tmp_path: Path, arguments: list[str], message: str) -> None:
    """Half a TLS configuration, or roles that could not be enforced, never start a server."""
    options = tls_options(tmp_path, Authority())
    paths = {"cert": options["tls_cert"], "key": options["tls_key"], "ca": options["client_ca"]}
    with pytest.raises(ConfigError, match=re.escape(message)):
        _resolve(*(argument.format(**paths) for argument in arguments))


def test_the_toml_file_holds_the_access_table_and_relative_pem_paths(tmp_path: Path) -> None:
    """`[access]` is a TOML table; PEM paths in the file are relative to the file."""
    tls_options(tmp_path / "etc", Authority())
    file = tmp_path / "etc" / "tamis.toml"
    file.write_text(
        'host = "0.0.0.0"\ntls_cert = "server.crt"\ntls_key = "server.key"\nclient_ca = "ca.crt"\n\n'
        f'[access]\nevaluate = ["{CHECKOUT}", "{SCANNER}"]\naudit = ["{COMPLIANCE}"]\nadmin = ["{OPS}"]\n',
        encoding="utf-8",
    )
    config = _resolve("--config", str(file))
    assert (config.tls_cert, config.client_ca, config.access) == (
        tmp_path / "etc" / "server.crt",
        tmp_path / "etc" / "ca.crt",
        ACCESS,
    )


def test_tamis_serve_says_why_it_will_not_listen_in_clear_text() -> None:
    """The command exits 2 with the reason and the ways out."""
    result = subprocess.run(
        [str(TAMIS), "serve", "--host", "0.0.0.0", "--log", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without TLS" in result.stderr
    assert "--insecure" in result.stderr
