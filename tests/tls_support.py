"""A throw-away PKI for the TLS tests, made with `cryptography`: a CA, a server certificate for
127.0.0.1 and localhost, and client certificates naming callers by URI SAN, DNS SAN or CN."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Credentials:
    """A certificate and its private key, as PEM."""

    cert: bytes
    key: bytes

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        key.chmod(0o600)
        return cert, key


class Authority:
    """A certificate authority that issues server and client certificates."""

    def __init__(self, name: str = "Tamis test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(name)
        self.certificate = self._sign(
            self._name, self._key.public_key(), x509.BasicConstraints(ca=True, path_length=0)
        )

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(PEM)

    def server(self) -> Credentials:
        return self.issue(
            "tamis server",
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )

    def client(self, cn: str = "client", uris: Sequence[str] = (), dns: Sequence[str] = ()) -> Credentials:
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri) for uri in uris]
        names += [x509.DNSName(name) for name in dns]
        return self.issue(cn, names)

    def issue(self, cn: str, names: Sequence[x509.GeneralName]) -> Credentials:
        key = ec.generate_private_key(ec.SECP256R1())
        extensions: list[x509.ExtensionType] = [x509.BasicConstraints(ca=False, path_length=None)]
        if names:
            extensions.append(x509.SubjectAlternativeName(list(names)))
        certificate = self._sign(_name(cn), key.public_key(), *extensions)
        return Credentials(
            certificate.public_bytes(PEM),
            key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        )

    def _sign(
        self, subject: x509.Name, public: ec.EllipticCurvePublicKey, *extensions: x509.ExtensionType
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=isinstance(extension, x509.BasicConstraints))
        return builder.sign(self._key, hashes.SHA256())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def channel(port: int, authority: Authority, client: Credentials | None) -> grpc.Channel:
    """A TLS channel to 127.0.0.1:`port` trusting `authority`, presenting `client` if given."""
    credentials = grpc.ssl_channel_credentials(
        authority.pem, client.key if client else None, client.cert if client else None
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)
