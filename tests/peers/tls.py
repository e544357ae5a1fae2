"""A throw-away PKI for DICOM TLS tests: CAs and certificates made with the ``openssl`` tool.

The ``openssl`` command line (Debian package ``openssl``, in CI's apt list) is used rather than
the ``cryptography`` package: it is already on every machine that has Orthanc, adds no Python
dependency, and ``openssl ca -startdate/-enddate`` makes the expired certificate the tests need.
EC P-256 keys keep the whole set under 0.1 s.

Plain Python, no pytest, so benchmarks and ad-hoc scripts can use it too.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CA_CONFIG = """\
[ca]
default_ca = test_ca
[test_ca]
database = {db}
new_certs_dir = {dir}
serial = {serial}
default_md = sha256
policy = any_cn
email_in_dn = no
unique_subject = no
[any_cn]
commonName = supplied
[leaf]
subjectAltName = {san}
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
"""


def openssl_binary() -> str | None:
    return shutil.which("openssl")


@dataclass(frozen=True)
class CertPair:
    """A PEM certificate and its unencrypted PEM private key."""

    cert: Path
    key: Path


class TestPki:
    """Make CAs and leaf certificates under ``folder`` with the ``openssl`` command line."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path, openssl: str = "openssl") -> None:
        self.folder = folder
        self.openssl = openssl
        folder.mkdir(parents=True, exist_ok=True)

    def _run(self, *args: str) -> None:
        subprocess.run([self.openssl, *args], check=True, capture_output=True, timeout=30)

    def _new_key_args(self, key: Path) -> list[str]:
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key)]

    def make_ca(self, name: str, common_name: str) -> CertPair:
        """A self-signed CA (valid 2 days)."""
        pair = CertPair(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        self._run("req", "-x509", *self._new_key_args(pair.key), "-out", str(pair.cert),
                  "-days", "2", "-subj", f"/CN={common_name}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return pair

    def make_leaf(self, name: str, ca: CertPair, *, common_name: str, san: str,
                  start: str | None = None, end: str | None = None) -> CertPair:
        """A certificate signed by ``ca`` for ``san`` (``DNS:localhost``, ``IP:127.0.0.1``).

        ``start``/``end`` (``YYYYMMDDHHMMSSZ``) set its validity; default: now to in 2 days.
        """
        pair = CertPair(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        work = self.folder / f"{name}.ca"
        work.mkdir(exist_ok=True)
        (work / "index.txt").write_text("")
        (work / "serial").write_text("01\n")
        config = work / "ca.cnf"
        config.write_text(_CA_CONFIG.format(db=work / "index.txt", dir=work,
                                            serial=work / "serial", san=san))
        csr = work / "request.csr"
        self._run("req", "-new", *self._new_key_args(pair.key), "-out", str(csr),
                  "-subj", f"/CN={common_name}")
        dates = (["-startdate", start] if start else []) + \
            (["-enddate", end] if end else ["-days", "2"])
        self._run("ca", "-batch", "-config", str(config), "-cert", str(ca.cert),
                  "-keyfile", str(ca.key), "-in", str(csr), "-out", str(pair.cert),
                  "-extensions", "leaf", "-notext", *dates)
        return pair


def orthanc_tls_config(server: CertPair, trusted_ca: Path, *,
                       client_cert_required: bool = False) -> dict[str, Any]:
    """Orthanc's DICOM TLS options (Orthanc >= 1.9).

    Orthanc 1.10 refuses to start without ``DicomTlsTrustedCertificates`` even when it does not
    ask callers for a certificate ("Cannot read file with trusted certificates for DICOM TLS").
    """
    return {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(server.cert),
        "DicomTlsPrivateKey": str(server.key),
        "DicomTlsTrustedCertificates": str(trusted_ca),
        "DicomTlsRemoteCertificateRequired": client_cert_required,
    }
