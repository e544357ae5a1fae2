"""DICOM TLS (PS3.15 B.1) against a real Orthanc with DicomTlsEnabled.

A test CA signs Orthanc's certificate for ``localhost`` only; so dialling ``localhost`` with
that CA works, dialling ``127.0.0.1`` is a host name mismatch, and a second CA is "a CA we do
not trust". A second Orthanc holds an expired certificate, a third requires client
certificates. Each certificate problem must end in an error that names it, the PACS, the
address and both AE titles. The move's C-STORE leg from Orthanc to storescp is plain DICOM.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_courier.core.config.profiles import PacsNode, TlsSettings
from dicom_courier.core.dimse.engine import Courier
from dicom_courier.core.dimse.tls import (
    CertificateExpired,
    CertificateHostMismatch,
    CertificateUntrusted,
    ClientCertificateRequired,
    TlsExpected,
    TlsNotSpoken,
)
from dicom_courier.core.outcome.errors import CourierError
from dicom_courier.core.outcome.events import MoveOutcome
from dicom_courier.core.qr.query import FindQuery, MoveRequest, MoveTarget, QueryLevel, QueryModel
from tests.conftest import require_binary
from tests.interop.conftest import node_for, run
from tests.peers import INTEROP_INSTANCE_COUNT, INTEROP_STUDIES, OrthancPeer
from tests.peers.tls import CertPair, TestPki, orthanc_tls_config

SPEC = INTEROP_STUDIES[0]


class Pki:
    """The test PKI: our CA, a CA nobody trusts, Orthanc's certificates, our client cert."""

    def __init__(self, folder: Path) -> None:
        pki = TestPki(folder, require_binary("openssl", "openssl"))
        self.ca = pki.make_ca("ca", "Courier Test CA")
        self.other_ca = pki.make_ca("other-ca", "Some Other CA")
        self.server = pki.make_leaf("server", self.ca, common_name="localhost",
                                    san="DNS:localhost")
        self.expired = pki.make_leaf("expired", self.ca, common_name="localhost",
                                     san="DNS:localhost", start="20200101000000Z",
                                     end="20200201000000Z")
        self.client = pki.make_leaf("client", self.ca, common_name="COURIER",
                                    san="DNS:courier.invalid")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _tls_orthanc(folder: Path, destination_port: int, dead_port: int, server: CertPair,
                 ca: Path, *, client_cert_required: bool = False) -> OrthancPeer:
    return OrthancPeer(folder, destination_port=destination_port, dead_port=dead_port,
                       binary=require_binary("Orthanc", "orthanc"),
                       extra_config=orthanc_tls_config(
                           server, ca, client_cert_required=client_cert_required))


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory: pytest.TempPathFactory, destination_port: int,
                dead_port: int, interop_files: list[Path], pki: Pki) -> Iterator[OrthancPeer]:
    """Orthanc speaking DICOM TLS only, certificate for localhost, holding INTEROP_STUDIES."""
    peer = _tls_orthanc(tmp_path_factory.mktemp("orthanc-tls"), destination_port, dead_port,
                        pki.server, pki.ca.cert)
    with peer:
        peer.upload(interop_files)
        assert peer.instance_count() == INTEROP_INSTANCE_COUNT, peer.log_tail()
        yield peer


@pytest.fixture(scope="module")
def expired_orthanc(tmp_path_factory: pytest.TempPathFactory, destination_port: int,
                    dead_port: int, pki: Pki) -> Iterator[OrthancPeer]:
    with _tls_orthanc(tmp_path_factory.mktemp("orthanc-expired"), destination_port, dead_port,
                      pki.expired, pki.ca.cert) as peer:
        yield peer


@pytest.fixture(scope="module")
def strict_orthanc(tmp_path_factory: pytest.TempPathFactory, destination_port: int,
                   dead_port: int, pki: Pki) -> Iterator[OrthancPeer]:
    """Orthanc that requires a client certificate signed by the test CA."""
    with _tls_orthanc(tmp_path_factory.mktemp("orthanc-strict"), destination_port, dead_port,
                      pki.server, pki.ca.cert, client_cert_required=True) as peer:
        yield peer


def tls_node(peer: Any, host: str = "localhost", **tls: Any) -> PacsNode:
    return node_for(peer, host=host, tls=TlsSettings(enabled=True, **tls))


def _failure(courier: Courier, node: PacsNode) -> CourierError:
    with pytest.raises(CourierError) as caught:
        run(courier.echo(node))
    return caught.value


def _names_everyone(error: CourierError, node: PacsNode) -> None:
    """Title names the PACS AE title, host, port and our AE title; details keep both AETs."""
    assert f"{node.called_aet} at {node.host}:{node.port} (we are {node.calling_aet})" \
        in error.title
    assert error.details["Our AE title (calling)"] == node.calling_aet
    assert error.details["PACS AE title (called)"] == node.called_aet
    assert not error.retryable


# ---------------------------------------------------------------- it works


def test_echo_find_and_move_over_tls(courier: Courier, tls_orthanc: OrthancPeer, pki: Pki,
                                     storescp: Any) -> None:
    node = tls_node(tls_orthanc, ca_file=str(pki.ca.cert))

    async def scenario() -> tuple[Any, list[Any], Any]:
        echo = await courier.echo(node)
        query = FindQuery(QueryLevel.STUDY, QueryModel.STUDY, {})
        matches = [m async for m in courier.find(node, query)]
        move = courier.move(node, MoveRequest(MoveTarget(SPEC.study_uid),
                                              tls_orthanc.known_destination, QueryModel.STUDY))
        return echo, matches, await move.run()

    echo, matches, moved = run(scenario())
    assert echo.round_trip_ms > 0
    assert {m.get("PatientName") for m in matches} == {s.patient_name for s in INTEROP_STUDIES}
    assert moved.outcome is MoveOutcome.COMPLETED, moved.error and moved.error.render()
    assert len(storescp.wait_for_files(6)) == 6


def test_unverified_tls_works_and_nodes_test_warns(courier: Courier, tls_orthanc: OrthancPeer,
                                                   tmp_path: Path) -> None:
    # 127.0.0.1 is not in the certificate: accepted only because nothing is checked.
    run(courier.echo(tls_node(tls_orthanc, host="127.0.0.1", verify=False)))
    added = _cli("nodes", "add", "lab", "--host", "127.0.0.1", "--port",
                 str(tls_orthanc.port), "--aet", tls_orthanc.aet, "--tls", "--tls-no-verify",
                 config_dir=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "WARNING: TLS is on but the PACS's certificate is NOT verified" in added.stderr
    listed = _cli("nodes", "list", config_dir=tmp_path)
    assert "TLS on, certificate NOT verified" in listed.stdout
    tested = _cli("nodes", "test", "lab", config_dir=tmp_path)
    lines = tested.stdout.splitlines()
    assert lines[0].startswith(f"WARNING Is the TLS certificate of ORTHANC at 127.0.0.1:"
                               f"{tls_orthanc.port} checked? no: certificate verification is "
                               "off"), tested.stdout
    assert lines[1].startswith("OK Is ORTHANC"), tested.stdout


def test_client_certificate(courier: Courier, strict_orthanc: OrthancPeer, pki: Pki) -> None:
    without = tls_node(strict_orthanc, ca_file=str(pki.ca.cert))
    error = _failure(courier, without)
    assert isinstance(error, ClientCertificateRequired), error.render()
    assert error.title == (f"ORTHANC at localhost:{strict_orthanc.port} (we are COURIER) "
                           "requires a client certificate.")
    _names_everyone(error, without)
    run(courier.echo(tls_node(strict_orthanc, ca_file=str(pki.ca.cert),
                              cert_file=str(pki.client.cert), key_file=str(pki.client.key))))


# ---------------------------------------------------------------- certificate problems


@pytest.mark.parametrize(
    ("case", "error_type", "title_end", "explanation_part"),
    [
        ("wrong CA", CertificateUntrusted,
         "refused: the PACS's certificate is not signed by a CA we trust.",
         "signed by Courier Test CA, which is not among the CA file"),
        ("system CAs only", CertificateUntrusted,
         "refused: the PACS's certificate is not signed by a CA we trust.",
         "which is not among this computer's trusted CAs"),
        ("hostname mismatch", CertificateHostMismatch,
         "refused: the certificate is for localhost, not 127.0.0.1.",
         "names other hosts than the address in the profile"),
        ("expired", CertificateExpired,
         "refused: the PACS's certificate expired on 2020-02-01 00:00 UTC.",
         "the PACS needs a new certificate"),
    ],
)
def test_certificate_problem_is_named(request: pytest.FixtureRequest, courier: Courier,
                                      pki: Pki, case: str, error_type: type[CourierError],
                                      title_end: str, explanation_part: str) -> None:
    peer = request.getfixturevalue("expired_orthanc" if case == "expired" else "tls_orthanc")
    node = {
        "wrong CA": lambda: tls_node(peer, ca_file=str(pki.other_ca.cert)),
        "system CAs only": lambda: tls_node(peer),
        "hostname mismatch": lambda: tls_node(peer, host="127.0.0.1",
                                              ca_file=str(pki.ca.cert)),
        "expired": lambda: tls_node(peer, ca_file=str(pki.ca.cert)),
    }[case]()
    error = _failure(courier, node)
    assert type(error) is error_type, error.render()
    assert error.title == (f"Secure connection to {node.called_aet} at {node.host}:"
                           f"{node.port} (we are COURIER) {title_end}")
    assert explanation_part in error.explanation
    _names_everyone(error, node)


def test_tls_to_a_plain_port_and_plain_to_a_tls_port(courier: Courier, orthanc: OrthancPeer,
                                                     tls_orthanc: OrthancPeer) -> None:
    to_plain = tls_node(orthanc, host="127.0.0.1", verify=False)
    error = _failure(courier, to_plain)
    assert isinstance(error, TlsNotSpoken), error.render()
    assert error.title == (f"ORTHANC at 127.0.0.1:{orthanc.port} (we are COURIER) does not "
                           f"speak DICOM TLS on port {orthanc.port}.")
    assert "Turn TLS off in the settings for" in error.action

    to_tls = node_for(tls_orthanc)
    error = _failure(courier, to_tls)
    assert isinstance(error, TlsExpected), error.render()
    assert error.title == (f"ORTHANC at 127.0.0.1:{tls_orthanc.port} (we are COURIER) "
                           "expects DICOM TLS.")
    assert "Turn TLS on in the settings for" in error.action


# ---------------------------------------------------------------- command line


def _cli(*args: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicom_courier", "--config-dir",
                           str(config_dir), *args], capture_output=True, text=True, timeout=60)


def test_cli_echo_find_over_tls_and_a_named_certificate_error(
        tls_orthanc: OrthancPeer, pki: Pki, tmp_path: Path) -> None:
    address = ["--port", str(tls_orthanc.port), "--aet", tls_orthanc.aet, "--tls",
               "--tls-ca", str(pki.ca.cert)]
    echo = _cli("echo", "--host", "localhost", *address, config_dir=tmp_path)
    assert echo.returncode == 0, echo.stderr
    assert f"ORTHANC at localhost:{tls_orthanc.port} answered the echo" in echo.stdout
    found = _cli("find", "--host", "localhost", *address, "-k", f"PatientID={SPEC.patient_id}",
                 config_dir=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "1 result(s)" in found.stdout
    mismatch = _cli("echo", "--host", "127.0.0.1", *address, config_dir=tmp_path)
    assert mismatch.returncode == 1
    assert "the certificate is for localhost, not 127.0.0.1" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr
