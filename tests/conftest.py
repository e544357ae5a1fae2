"""Shared fixtures: real DICOM peers on loopback, and a headless Qt platform.

Peers are session-scoped (Orthanc, dcmqrscp: started once, loaded with INTEROP_STUDIES)
except storescp, which restarts for each test with an empty folder on the *same* port,
because the archives' configurations name that port as the "STORESCP" move destination.

A missing peer binary skips the test with the Debian package to install; with
COURIER_REQUIRE_PEERS=1 (CI images that have them) it fails instead, so interop tests cannot
silently stop running.
"""

from __future__ import annotations

import os

# Before anything imports Qt: tests must never need a display.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import shutil  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

# Make ``tests.peers`` importable: tests/ has no __init__.py, so it is a namespace package of
# the repository root. Appended, not prepended, so the root's folders (core/, packaging/...)
# can never shadow installed modules.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.append(_REPO_ROOT)

from tests.peers import (  # noqa: E402
    INTEROP_INSTANCE_COUNT,
    DcmqrscpPeer,
    OrthancPeer,
    StorescpPeer,
    find_dcmtk,
    free_port,
    reserve_dead_port,
    write_interop_files,
)

#: Fixtures that start third-party software; tests using them get the "peers" marker.
PEER_FIXTURES = frozenset({"orthanc", "dcmqrscp", "storescp"})


def peers_required() -> bool:
    return os.environ.get("COURIER_REQUIRE_PEERS", "") == "1"


def require_binary(name: str, package: str) -> str:
    """Path of executable ``name``; otherwise skip (or fail under COURIER_REQUIRE_PEERS=1).

    For package "dcmtk" only real DCMTK binaries count, not pynetdicom's same-named scripts.
    """
    path = find_dcmtk(name) if package == "dcmtk" else shutil.which(name)
    if path is None:
        message = f"{name} not found on PATH: install it with `apt-get install {package}`"
        if peers_required():
            pytest.fail(f"{message} (COURIER_REQUIRE_PEERS=1)", pytrace=False)
        pytest.skip(message)
    return path


#: Everything in tests/interop talks to real peers, even via request.getfixturevalue().
INTEROP_DIR = Path(__file__).resolve().parent / "interop"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need real peers, so ``-m "not peers"`` deselects them.

    A test with real peers also talks over the network: it gets the "network" marker too,
    so ``-m "not network"`` (``make test-fast``) is exactly the tests that need no peer.
    """
    for item in items:
        if item.path.is_relative_to(INTEROP_DIR) or PEER_FIXTURES.intersection(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.peers)
            item.add_marker(pytest.mark.network)


class UnmarkedNetworkUse(AssertionError):
    """A test without the "network" marker opened a TCP socket."""


@pytest.fixture(autouse=True)
def _network_only_when_marked(request: pytest.FixtureRequest,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the "network" marker true: an unmarked test that binds or connects a TCP socket fails.

    So ``make test-fast`` can never quietly grow a test that waits on a peer, and a test
    marked "network" is one that really needs it. Unix sockets (the event loop's self-pipe,
    Qt's local sockets) are not affected.
    """
    if request.node.get_closest_marker("network") is not None:
        return
    for name in ("bind", "connect", "connect_ex"):
        original = getattr(socket.socket, name)

        def refuse(self: socket.socket, *args: object, _original: Any = original,
                   _name: str = name) -> object:
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise UnmarkedNetworkUse(
                    f"{request.node.nodeid} calls socket.{_name}{args!r} over TCP but is not "
                    "marked @pytest.mark.network (tests/conftest.py)")
            return _original(self, *args)

        monkeypatch.setattr(socket.socket, name, refuse)


@pytest.fixture(scope="session")
def dcmtk_tools() -> dict[str, str]:
    """DCMTK's SCU tools, for tests that drive peers from the command line."""
    return {
        name: require_binary(name, "dcmtk")
        for name in ("echoscu", "findscu", "movescu", "storescu")
    }


@pytest.fixture(scope="session")
def destination_port() -> int:
    """The fixed port of the "STORESCP" move destination, named in every archive's config."""
    return free_port()


@pytest.fixture(scope="session")
def dead_port() -> Iterator[int]:
    """A port where connections are refused (bound, never listening): "DEADDEST"."""
    sock = reserve_dead_port()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture(scope="session")
def interop_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """INTEROP_STUDIES written once as DICOM files, shared by every archive."""
    return write_interop_files(tmp_path_factory.mktemp("interop-data"))


@pytest.fixture(scope="session")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory,
    destination_port: int,
    dead_port: int,
    interop_files: list[Path],
) -> Iterator[OrthancPeer]:
    """A running Orthanc holding INTEROP_STUDIES; calling AE "COURIER" is authorised."""
    binary = require_binary("Orthanc", "orthanc")
    peer = OrthancPeer(
        tmp_path_factory.mktemp("orthanc"),
        destination_port=destination_port, dead_port=dead_port, binary=binary,
    )
    peer.start()
    try:
        peer.upload(interop_files)
        assert peer.instance_count() == INTEROP_INSTANCE_COUNT, peer.log_tail()
        yield peer
    finally:
        peer.stop()


@contextmanager
def running_dcmqrscp(workdir: Path, destination_port: int, dead_port: int,
                     files: list[Path]) -> Iterator[DcmqrscpPeer]:
    """A dcmqrscp (AE "DCMQRSCP") loaded with ``files``, stopped on exit."""
    peer = DcmqrscpPeer(workdir, destination_port=destination_port, dead_port=dead_port,
                        binary=require_binary("dcmqrscp", "dcmtk"),
                        indexer=require_binary("dcmqridx", "dcmtk"))
    peer.load(files)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="session")
def dcmqrscp(
    tmp_path_factory: pytest.TempPathFactory,
    destination_port: int,
    dead_port: int,
    interop_files: list[Path],
) -> Iterator[DcmqrscpPeer]:
    """A running dcmqrscp (AE "DCMQRSCP") holding INTEROP_STUDIES, for the whole session."""
    with running_dcmqrscp(tmp_path_factory.mktemp("dcmqrscp"), destination_port, dead_port,
                          interop_files) as peer:
        yield peer


@pytest.fixture
def storescp(tmp_path: Path, destination_port: int) -> Iterator[StorescpPeer]:
    """A fresh storescp ("STORESCP") on the session's destination port, empty folder."""
    binary = require_binary("storescp", "dcmtk")
    peer = StorescpPeer(tmp_path / "received", destination_port, workdir=tmp_path, binary=binary)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
