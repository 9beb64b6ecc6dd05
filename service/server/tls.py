"""TLS for the gRPC server: credentials from PEM files, re-read when the files change.

Certificates are renewed often (a SPIFFE or ACME issuer rotates them in hours), so the server
must not need a restart: gRPC asks `_Credentials.fetch` before every TLS handshake, and it
answers with fresh credentials once a file's size, inode or modification time has changed. A
renewal that does not load (a key that does not match its certificate, a half-written file) is
refused and logged, and the files loaded last keep serving. With a client CA, gRPC requires a
client certificate signed by it before a call reaches any handler.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tamis.service.server.logs import logger

LOOPBACK_NAMES = ("localhost", "ip6-localhost")
#: PEM files larger than this are refused: certificate chains and keys are a few kilobytes.
MAX_PEM_BYTES = 1 << 20


class TlsError(ValueError):
    """A certificate, key or CA file that cannot serve; the message names the file."""


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 possibly in brackets) only listens on loopback."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def pem_file(text: str) -> Path:
    """A readable PEM file (the option's parser; its contents are checked when TLS loads)."""
    path = Path(text)
    try:
        head = path.read_bytes()[:4096]
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    if b"-----BEGIN " not in head:
        raise ValueError(f"{path} is not a PEM file (no -----BEGIN line)")
    return path


def private_key_file(text: str) -> Path:
    """A PEM private key file that only its owner can read (the option's parser)."""
    path = pem_file(text)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:04o}); chmod 600 it")
    return path


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[tuple[int, int, int], ...]
    configuration: grpc.ServerCertificateConfiguration


class _Credentials:
    """The PEM files and the configuration last loaded from them."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self.paths = (cert, key, *((client_ca,) if client_ca else ()))
        self._lock = threading.Lock()
        self._log = logger()
        self._loaded = self._load()

    @property
    def current(self) -> grpc.ServerCertificateConfiguration:
        return self._loaded.configuration

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Fresh credentials if the files changed since they were loaded, else None."""
        try:
            if self._stamp() == self._loaded.stamp:
                return None
            with self._lock:
                if self._stamp() == self._loaded.stamp:
                    return None
                self._loaded = self._load()
        except (OSError, TlsError) as error:
            self._log.warning("tls reload rejected; the loaded certificate keeps serving", error=str(error))
            return None
        self._log.info("tls reloaded", files=[str(path) for path in self.paths])
        return self._loaded.configuration

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        stats = [path.stat() for path in self.paths]
        return tuple((stat.st_ino, stat.st_size, stat.st_mtime_ns) for stat in stats)

    def _load(self) -> _Loaded:
        stamp = self._stamp()
        cert, key, *ca = (_read(path) for path in self.paths)
        _check_pair(cert, key, self.paths[0], self.paths[1])
        if ca:
            _certificates(ca[0], self.paths[2])
        return _Loaded(
            stamp,
            grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca[0] if ca else None),
        )


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """Credentials that re-read the files when they change; with `client_ca`, mutual TLS."""
    credentials = _Credentials(cert, key, client_ca)
    # gRPC's fetcher may answer None ("no change"), which its type stubs do not say.
    fetch: Any = credentials.fetch
    return grpc.dynamic_ssl_server_credentials(
        credentials.current, fetch, require_client_authentication=client_ca is not None
    )


def _check_pair(cert: bytes, key: bytes, cert_path: Path, key_path: Path) -> None:
    """Raise TlsError unless `key` is the private key of the first certificate of `cert`."""
    leaf = _certificates(cert, cert_path)[0]
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as error:
        raise TlsError(f"{key_path}: not an unencrypted PEM private key ({error})") from error
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise TlsError(f"{key_path} is not the private key of the certificate in {cert_path}")


def _certificates(data: bytes, path: Path) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise TlsError(f"{path}: no readable PEM certificate ({error})") from error
    return certificates


def _read(path: Path) -> bytes:
    with path.open("rb") as source:
        data = source.read(MAX_PEM_BYTES + 1)
    if len(data) > MAX_PEM_BYTES:
        raise TlsError(f"{path} is over {MAX_PEM_BYTES} bytes: not a certificate or key file")
    return data
