"""DICOM TLS settings, the SSL context and the CLI options, without a network peer.

Certificates come from the ``openssl`` command line (tests/peers/tls.py), in well under 1 s.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import pytest

from dicom_courier.core.cli.main import run
from dicom_courier.core.config.profiles import PacsNode, TlsSettings
from dicom_courier.core.dimse.certificate import read_certificate
from dicom_courier.core.dimse.tls import build_context
from dicom_courier.core.outcome.errors import InvalidInput
from tests.conftest import require_binary
from tests.peers.tls import TestPki


class Certs:
    def __init__(self, folder: Path) -> None:
        self.openssl = require_binary("openssl", "openssl")
        pki = TestPki(folder, self.openssl)
        self.ca = pki.make_ca("ca", "Courier Test CA")
        self.leaf = pki.make_leaf("leaf", self.ca, common_name="pacs.example",
                                  san="DNS:pacs.example,DNS:pacs,IP:10.1.2.3",
                                  start="20240101000000Z", end="20350630120000Z")
        self.other = pki.make_leaf("other", self.ca, common_name="x", san="DNS:x")
        self.folder = folder


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


def _node(**changes: object) -> PacsNode:
    return PacsNode(name="Main", called_aet="PACS", host="pacs.example", port=2762,
                    **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- profile fields


def test_profile_tls_round_trips_and_old_profiles_load_with_tls_off() -> None:
    tls = TlsSettings(enabled=True, ca_file="/etc/pki/ca.pem", cert_file="/k/c.pem",
                      key_file="/k/c.key", verify=True)
    node = _node(tls=tls)
    data = json.loads(json.dumps(node.to_json()))
    assert data["tls"] == {"enabled": True, "ca_file": "/etc/pki/ca.pem",
                           "cert_file": "/k/c.pem", "key_file": "/k/c.key", "verify": True}
    assert PacsNode.from_json(data) == node
    del data["tls"]  # a nodes.json written before TLS existed
    old = PacsNode.from_json(data)
    assert old.tls == TlsSettings() and not old.tls.enabled and old.tls.verify


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"enabled": "yes"}, "TLS on/off: must be true or false (got 'yes')."),
        ({"enabled": True, "verify": 0}, "TLS verify: must be true or false (got 0)."),
        ({"enabled": True, "ca_file": 5}, "TLS CA file: must be a file path (text) (got 5)."),
        ({"enabled": True, "key_file": "/k.pem"},
         "TLS client key: needs a client certificate file too (got '/k.pem')."),
        ({"enabled": True, "cert_file": "/a\nb"},
         "TLS client certificate: must not contain control characters"),
    ],
)
def test_bad_tls_values_name_the_field(tls: dict[str, object], message: str) -> None:
    data = _node().to_json() | {"tls": tls}
    with pytest.raises(InvalidInput) as caught:
        PacsNode.from_json(data)
    assert caught.value.title.startswith(message)


def test_describe_shows_the_state() -> None:
    assert TlsSettings().describe() == "TLS off"
    assert TlsSettings(enabled=True).describe() == "TLS on"
    assert TlsSettings(enabled=True, verify=False).describe() == \
        "TLS on, certificate NOT verified"
    assert TlsSettings(enabled=True, ca_file="/ca.pem", cert_file="/c.pem").describe() == \
        "TLS on, CA /ca.pem, client certificate"
    assert TlsSettings(enabled=True, verify=False).unverified
    assert not TlsSettings(enabled=False, verify=False).unverified


# ---------------------------------------------------------------- files and context


def test_files_are_checked_at_use_time_with_the_field_named(tmp_path: Path,
                                                            certs: Certs) -> None:
    missing = TlsSettings(enabled=True, ca_file=str(tmp_path / "nope.pem"))
    with pytest.raises(InvalidInput, match=r"^TLS CA file: must be an existing file: there is "
                                           r"no such file"):
        build_context(missing)
    folder = TlsSettings(enabled=True, cert_file=str(tmp_path))
    with pytest.raises(InvalidInput, match="^TLS client certificate: must be a file, not a "
                                           "folder"):
        build_context(folder)
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(InvalidInput, match="^TLS CA file: must hold CA certificates in PEM"):
        build_context(TlsSettings(enabled=True, ca_file=str(not_pem)))
    wrong_key = TlsSettings(enabled=True, cert_file=str(certs.leaf.cert),
                            key_file=str(certs.other.key))
    with pytest.raises(InvalidInput, match="^TLS client certificate: must be a PEM "
                                           "certificate with its matching private key"):
        build_context(wrong_key)


def test_a_password_protected_key_is_refused_without_prompting(tmp_path: Path,
                                                               certs: Certs) -> None:
    locked = tmp_path / "locked.key"
    subprocess.run([certs.openssl, "pkey", "-in", str(certs.leaf.key), "-aes256", "-passout",
                    "pass:secret", "-out", str(locked)], check=True, capture_output=True)
    tls = TlsSettings(enabled=True, cert_file=str(certs.leaf.cert), key_file=str(locked))
    with pytest.raises(InvalidInput, match="^TLS client key: must not be protected by a "
                                           "password"):
        build_context(tls)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "ca.pem"
    secret.write_text("x")
    secret.chmod(0)
    with pytest.raises(InvalidInput, match="^TLS CA file: must be a file we may read: "
                                           "permission denied"):
        build_context(TlsSettings(enabled=True, ca_file=str(secret)))


def test_context_checks_certificate_and_host_by_default(certs: Certs) -> None:
    context = build_context(TlsSettings(enabled=True, ca_file=str(certs.ca.cert),
                                        cert_file=str(certs.leaf.cert),
                                        key_file=str(certs.leaf.key)))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "Courier Test CA"),),)]
    system = build_context(TlsSettings(enabled=True))
    assert system.verify_mode is ssl.CERT_REQUIRED and system.check_hostname
    unverified = build_context(TlsSettings(enabled=True, verify=False))
    assert unverified.verify_mode is ssl.CERT_NONE and not unverified.check_hostname


def test_certificate_facts_read_from_der(certs: Certs) -> None:
    facts = read_certificate(ssl.PEM_cert_to_DER_cert(certs.leaf.cert.read_text()))
    assert facts is not None
    assert facts.names == ("pacs.example", "pacs", "10.1.2.3")
    assert (facts.subject_cn, facts.issuer_cn) == ("pacs.example", "Courier Test CA")
    assert facts.not_after is not None and facts.not_after.isoformat() == \
        "2035-06-30T12:00:00+00:00"
    assert facts.not_before is not None and facts.not_before.year == 2024
    der = ssl.PEM_cert_to_DER_cert(certs.ca.cert.read_text())
    for broken in (b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", der[:40], b"\x04\x00" + der):
        assert read_certificate(broken) is None


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--tls-ca", "ca.pem"], "--tls-ca: needs --tls (DICOM TLS is off without it)"),
        (["--tls-no-verify"], "--tls-no-verify: needs --tls"),
        (["--tls", "--tls-ca", "missing.pem"],
         "--tls-ca: must be an existing file: there is no such file"),
        (["--tls", "--tls-ca", ""], "--tls-ca: must name a file"),
        (["--tls", "--tls-key", "LEAF_KEY"], "--tls-key: needs --tls-cert"),
        (["--tls", "--tls-no-verify", "--tls-ca", "CA"],
         "--tls-no-verify: cannot be combined with --tls-ca"),
    ],
)
def test_bad_tls_options_are_one_line_and_exit_2(
        extra: list[str], expected: str, tmp_path: Path, certs: Certs,
        capsys: pytest.CaptureFixture[str]) -> None:
    extra = [str(certs.ca.cert) if a == "CA" else str(certs.leaf.key) if a == "LEAF_KEY"
             else a for a in extra]
    for command in (["echo"], ["nodes", "add", "x"]):
        code = run(["--config-dir", str(tmp_path), *command, "--host", "h", "--port", "104",
                    "--aet", "X", *extra])
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1, err
        assert expected in err


def test_tls_options_are_refused_with_a_saved_profile(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config-dir", str(tmp_path)]
    assert run([*base, "nodes", "add", "Main", "--host", "h", "--port", "104",
                "--aet", "X"]) == 0
    capsys.readouterr()
    assert run([*base, "echo", "--pacs", "Main", "--tls"]) == 2
    assert "--tls: cannot be used with --pacs" in capsys.readouterr().err


def test_nodes_add_saves_tls_with_absolute_paths_and_list_shows_it(
        tmp_path: Path, certs: Certs, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(certs.folder)
    base = ["--config-dir", str(tmp_path)]
    assert run([*base, "nodes", "add", "Main", "--host", "pacs.example", "--port", "2762",
                "--aet", "PACS", "--tls", "--tls-ca", "ca.pem", "--tls-cert", "leaf.pem",
                "--tls-key", "leaf.key"]) == 0
    saved = json.loads((tmp_path / "nodes.json").read_text())["pacs"][0]["tls"]
    assert saved == {"enabled": True, "ca_file": str(certs.ca.cert),
                     "cert_file": str(certs.leaf.cert), "key_file": str(certs.leaf.key),
                     "verify": True}
    assert "WARNING" not in capsys.readouterr().err
    assert run([*base, "nodes", "add", "Plain", "--host", "h", "--port", "104",
                "--aet", "X"]) == 0
    assert run([*base, "nodes", "add", "Lab", "--host", "h", "--port", "104",
                "--aet", "X", "--tls", "--tls-no-verify"]) == 0
    assert "WARNING: TLS is on but the PACS's certificate is NOT verified" in \
        capsys.readouterr().err
    assert run([*base, "nodes", "list"]) == 0
    out = capsys.readouterr().out
    assert f"Main: PACS at pacs.example:2762, we are COURIER; TLS on, CA {certs.ca.cert}, " \
        "client certificate;" in out
    assert "Plain: X at h:104, we are COURIER; TLS off;" in out
    assert "Lab: X at h:104, we are COURIER; TLS on, certificate NOT verified;" in out
