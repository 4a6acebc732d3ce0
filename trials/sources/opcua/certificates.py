"""The collector's client certificate for secured OPC UA servers (Basic256Sha256): the
deployment's own (settings OPCUA_CLIENT_CERT and OPCUA_CLIENT_KEY), or a self-signed pair
Testbed makes once under MEDIA_ROOT/opcua/ and renews a month before it expires. A server
must trust it: its operator copies client-cert.der into the server's trusted list.

Several drivers (threads) and several collectors (processes) sharing MEDIA_ROOT may ask
for the pair at once: it is made under a lock (a thread lock and a file lock), written
atomically, the key readable by its owner only.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.conf import settings

APPLICATION_URI = "urn:testbed:collector"
VALID_DAYS = 365
RENEW_BEFORE = timedelta(days=30)

_made = threading.Lock()


@dataclass(frozen=True)
class ClientCertificate:
    cert: Path  # DER or PEM
    key: Path  # PEM
    application_uri: str  # what the certificate names; the session must say the same


def client_certificate() -> ClientCertificate:
    cert, key = settings.OPCUA_CLIENT_CERT, settings.OPCUA_CLIENT_KEY
    if cert and key:
        return ClientCertificate(Path(cert), Path(key), application_uri(_load(Path(cert))))
    return _own()


def application_uri(certificate: x509.Certificate) -> str:
    """The application URI a certificate names (servers check the session's against it)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return APPLICATION_URI
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else APPLICATION_URI


def _load(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    return (x509.load_pem_x509_certificate(data) if data.startswith(b"-----")
            else x509.load_der_x509_certificate(data))


def _own() -> ClientCertificate:
    folder = Path(settings.MEDIA_ROOT) / "opcua"
    cert, key = folder / "client-cert.der", folder / "client-key.pem"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _made, open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _usable(cert, key):
            _make(cert, key)
    return ClientCertificate(cert, key, APPLICATION_URI)


def _usable(cert: Path, key: Path) -> bool:
    """Both files there, the certificate far from expiry and made for that key."""
    try:
        certificate = _load(cert)
        private = load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    fresh = certificate.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE
    return fresh and (certificate.public_key().public_numbers()
                      == private.public_key().public_numbers())


def _make(cert: Path, key: Path) -> None:
    private = cert_gen.generate_private_key()
    certificate = cert_gen.generate_self_signed_app_certificate(
        private, APPLICATION_URI, {},
        [x509.UniformResourceIdentifier(APPLICATION_URI), x509.DNSName(socket.gethostname())],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH], days=VALID_DAYS)
    _write(key, cert_gen.dump_private_key_as_pem(private), 0o600)
    _write(cert, certificate.public_bytes(Encoding.DER), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".new")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data)
    os.chmod(temporary, mode)  # whatever the umask
    os.replace(temporary, path)
