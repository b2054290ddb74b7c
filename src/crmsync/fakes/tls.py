"""Throwaway certificates so a fake can speak HTTPS on loopback, also under the CRMs' real host names.

Several widely used CRM clients only build ``https://`` URLs, some of them on the vendor's host
(``https://{subdomain}.amocrm.ru``). With TLS on, a fake

* serves HTTPS on 127.0.0.1 / localhost, and
* answers ``CONNECT host:443`` itself, as if it were an HTTPS proxy, presenting a certificate for
  that host — so an unmodified client run with ``HTTPS_PROXY=http://127.0.0.1:PORT`` talks to the
  fake while believing it talks to ``demo.amocrm.ru``. The fake never connects anywhere.

Every certificate is signed by a per-server CA whose PEM (``cert_path``) clients are told to trust
(``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, …). Keys never leave the server's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import threading
from pathlib import Path
from typing import Any


class FakeCA:
    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = self._build("crmsync fake CRM CA", self._key.public_key(), ca=True, names=[])
        self.cert_path = directory / "fake-crm-ca.pem"
        self.cert_path.write_bytes(_pem(self._cert))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server context whose certificate names ``host`` (plus 127.0.0.1 and localhost)."""
        host = host.lower().strip("[]")
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._leaf_context(host)
            return self._contexts[host]

    def _leaf_context(self, host: str) -> ssl.SSLContext:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        names = sorted({host, "localhost", "127.0.0.1"})
        cert = self._build(host, key.public_key(), ca=False, names=names)
        safe = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in host)
        cert_file, key_file = self.directory / f"leaf-{safe}.pem", self.directory / f"leaf-{safe}.key"
        cert_file.write_bytes(_pem(cert) + _pem(self._cert))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert_file, key_file)
        return ctx

    def _build(self, common_name: str, public_key: Any, *, ca: bool, names: list[str]) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
        issuer = subject if ca else self._cert.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ), critical=True)
        else:
            alt: list[x509.GeneralName] = []
            for name in names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    alt.append(x509.DNSName(name))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                            critical=False)
        return builder.sign(self._key, hashes.SHA256())


def _pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)
