"""DCMTK peers: dcmqrscp as a second real Q/R archive, storescp as the move destination.

dcmqrscp is the reference implementation many PACS vendors test against; its C-MOVE statuses
(0xA801 for an unknown destination, 0xA702 when sub-operations cannot start) are the
textbook ones, unlike Orthanc's.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_courier.core.demo.synthetic import write_datasets

from .ports import LOOPBACK, PeerProcess, free_port, peer_env


def _is_dcmtk(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            if b"python" in file.readline(200):
                return False  # pynetdicom's console script: skip its slow start-up
    except OSError:
        return False
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, errors="replace", timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "$dcmtk:" in result.stdout


@functools.cache
def _find_dcmtk(name: str, search_path: str) -> str | None:
    for directory in search_path.split(os.pathsep):
        candidate = shutil.which(name, path=directory) if directory else None
        if candidate and _is_dcmtk(candidate):
            return candidate
    return None


def find_dcmtk(name: str) -> str | None:
    """Path of DCMTK's ``name`` on PATH, or None.

    Plain ``shutil.which`` is not enough: pynetdicom (a dependency) installs Python scripts
    called echoscu, findscu, movescu, storescu and storescp into the virtualenv's bin/, which
    comes first on PATH once the venv is activated. Those take other options, so we skip every
    candidate whose ``--version`` does not identify as DCMTK.
    """
    return _find_dcmtk(name, os.environ.get("PATH", os.defpath))


def dcmtk_binary(name: str) -> str:
    """Like find_dcmtk, but raise FileNotFoundError naming the Debian package."""
    path = find_dcmtk(name)
    if path is None:
        raise FileNotFoundError(f"DCMTK's {name} not found on PATH: apt-get install dcmtk")
    return path


def run_tool(
    tool: str, *args: str, timeout: float = 30.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a DCMTK command-line tool (echoscu, findscu, ...) with TCP_NODELAY=1.

    Output is decoded leniently: DCMTK prints attribute values in their original charset.
    """
    return subprocess.run(
        [dcmtk_binary(tool), *args], env=peer_env(), capture_output=True, text=True,
        encoding="utf-8", errors="replace", timeout=timeout, check=check,
    )


class DcmqrscpPeer(PeerProcess):
    """dcmqrscp serving one AE title whose storage area and index live in ``workdir``.

    The HostTable names ``known_destination`` at ``destination_port`` and ``dead_destination``
    at ``dead_port`` (nothing listens). Any calling AE is accepted (peers ANY); a wrong called
    AE title is rejected at association time. dcmqrscp forks one child per association.
    """

    name = "dcmqrscp"

    def __init__(
        self,
        workdir: Path,
        *,
        destination_port: int,
        dead_port: int,
        aet: str = "DCMQRSCP",
        calling_aet: str = "COURIER",
        known_destination: str = "STORESCP",
        dead_destination: str = "DEADDEST",
        extra_destinations: Mapping[str, int] | None = None,
        max_pdu: int = 16384,
        max_associations: int = 16,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        binary: str | None = None,
        indexer: str | None = None,
    ) -> None:
        super().__init__(workdir, port if port is not None else free_port())
        self.aet = aet
        self.calling_aet = calling_aet
        self.known_destination = known_destination
        self.dead_destination = dead_destination
        self.destination_port = destination_port
        self.dead_port = dead_port
        self.extra_destinations = dict(extra_destinations or {})
        self.max_pdu = max_pdu
        self.max_associations = max_associations
        self.extra_args = tuple(extra_args)
        self.binary = binary or dcmtk_binary("dcmqrscp")
        self.indexer = indexer or dcmtk_binary("dcmqridx")
        self.config_path = self.workdir / "dcmqrscp.cfg"
        self.storage_dir = self.workdir / "storage"

    def config_text(self) -> str:
        """The dcmqrscp.cfg written at start."""
        destinations = {
            self.known_destination: self.destination_port,
            self.dead_destination: self.dead_port,
            **self.extra_destinations,
        }
        hosts = "\n".join(
            f"{aet.lower()} = ({aet}, {LOOPBACK}, {port})" for aet, port in destinations.items()
        )
        # Quota is (max studies, max bytes per study): dcmqrscp caps studies at 500 and deletes
        # the oldest studies beyond the quota.
        return (
            f"NetworkTCPPort  = {self.port}\n"
            f"MaxPDUSize      = {self.max_pdu}\n"
            f"MaxAssociations = {self.max_associations}\n"
            "\nHostTable BEGIN\n"
            f"{hosts}\n"
            "HostTable END\n"
            "\nVendorTable BEGIN\n"
            "VendorTable END\n"
            "\nAETable BEGIN\n"
            f"{self.aet} {self.storage_dir} RW (500, 1024mb) ANY\n"
            "AETable END\n"
        )

    def _prepare(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text(), encoding="ascii")

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path), *self.extra_args]

    def load(self, items: Iterable[Dataset | Path | str]) -> list[Path]:
        """Put instances into the storage area and register them in index.dat with dcmqridx.

        Works before or after start (dcmqrscp locks the index per request). Paths are indexed
        as absolute paths because dcmqrscp opens them relative to its own working directory.
        """
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        stored: list[Path] = []
        for item in items:
            if isinstance(item, Dataset):
                stored.extend(write_datasets([item], self.storage_dir))
            else:
                target = self.storage_dir / Path(item).name
                shutil.copyfile(item, target)
                stored.append(target)
        if not stored:
            return []
        result = subprocess.run(
            [self.indexer, str(self.storage_dir), *(str(p.resolve()) for p in stored)],
            env=peer_env(), capture_output=True, text=True, errors="replace", timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dcmqridx failed ({result.returncode}): {result.stderr}")
        return stored


class StorescpPeer(PeerProcess):
    """storescp writing every received instance into ``output_dir``.

    Started with --fork so several simultaneous associations (a PACS sending in parallel)
    are served; stop() reaches those children through the process group. DCMTK sets
    SO_REUSEADDR on its listening socket, so the same port can be reused right after stop().
    """

    name = "storescp"

    def __init__(
        self,
        output_dir: Path,
        port: int,
        *,
        aet: str = "STORESCP",
        workdir: Path | None = None,
        fork: bool = True,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        super().__init__(Path(workdir) if workdir is not None else self.output_dir.parent, port)
        self.aet = aet
        self.fork = fork
        self.extra_args = tuple(extra_args)
        self.binary = binary or dcmtk_binary("storescp")

    def _prepare(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def _command(self) -> list[str]:
        return [
            self.binary,
            *(["--fork"] if self.fork else []),
            "--aetitle", self.aet,
            "--output-directory", str(self.output_dir),
            "--accept-all",  # any transfer syntax DCMTK knows, as a tolerant workstation does
            *self.extra_args,
            str(self.port),
        ]

    def received_files(self) -> list[Path]:
        """Files received so far (sorted; storescp names them <modality>.<SOP UID>)."""
        if not self.output_dir.exists():
            return []
        return sorted(p for p in self.output_dir.rglob("*") if p.is_file())

    def wait_for_files(self, count: int, timeout: float = 10.0) -> list[Path]:
        """Wait until at least ``count`` files arrived and their sizes stopped changing.

        storescp writes straight to the final file name, so a file seen mid-write is only
        trusted once two polls agree on all sizes.
        """
        deadline = time.monotonic() + timeout
        previous: list[tuple[Path, int]] | None = None
        while True:
            files = self.received_files()
            snapshot = [(p, p.stat().st_size) for p in files]
            if len(files) >= count and snapshot == previous:
                return files
            previous = snapshot
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"storescp received {len(files)} of {count} files within {timeout} s\n"
                    f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def clear(self) -> None:
        """Delete everything received so far."""
        for path in self.received_files():
            path.unlink()
