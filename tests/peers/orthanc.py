"""Orthanc as a real C-FIND/C-MOVE peer, configured in a temporary folder.

Orthanc is the PACS people most often try first; its behaviour differs from DCMTK's on
purpose-relevant points (unknown calling AE, unknown move destination), so the interop
suite runs the engine against both.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from .ports import LOOPBACK, PeerProcess, free_port

#: Symbolic names used as keys of "DicomModalities" (Orthanc's REST /modalities names).
CALLING_MODALITY = "courier"
KNOWN_MODALITY = "storescp"
DEAD_MODALITY = "deaddest"


def _dicom_bytes(item: Dataset | Path | str | bytes) -> bytes:
    """A DICOM Part 10 file's bytes from a dataset, a path or raw bytes."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, Dataset):
        buffer = io.BytesIO()
        dcmwrite(buffer, item, enforce_file_format=True)
        return buffer.getvalue()
    return Path(item).read_bytes()


class OrthancPeer(PeerProcess):
    """An Orthanc server with its own storage, DICOM port and HTTP port on loopback.

    ``destination_port`` is where the "STORESCP" move destination listens (a storescp started
    separately); ``dead_port`` is a port where nothing listens ("DEADDEST"). The calling AE
    ``calling_aet`` is registered so its C-FIND/C-MOVE are allowed; any other calling AE gets
    its association accepted and its C-FIND/C-MOVE refused, as in a default Orthanc install.
    """

    name = "orthanc"

    def __init__(
        self,
        workdir: Path,
        *,
        destination_port: int,
        dead_port: int,
        aet: str = "ORTHANC",
        calling_aet: str = "COURIER",
        calling_port: int | None = None,
        known_destination: str = "STORESCP",
        dead_destination: str = "DEADDEST",
        default_encoding: str = "Utf8",
        extra_modalities: Mapping[str, tuple[str, str, int]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
        port: int | None = None,
        http_port: int | None = None,
        binary: str = "Orthanc",
    ) -> None:
        super().__init__(workdir, port if port is not None else free_port())
        self.http_port = http_port if http_port is not None else free_port()
        self.aet = aet
        self.calling_aet = calling_aet
        # Orthanc only uses the calling modality's port if someone moves *to* it.
        self.calling_port = calling_port if calling_port is not None else destination_port
        self.known_destination = known_destination
        self.dead_destination = dead_destination
        self.destination_port = destination_port
        self.dead_port = dead_port
        self.default_encoding = default_encoding
        self.extra_modalities = dict(extra_modalities or {})
        self.extra_config = dict(extra_config or {})
        self.binary = binary
        self.config_path = self.workdir / "orthanc.json"
        self.storage_dir = self.workdir / "storage"
        self.base_url = f"http://{LOOPBACK}:{self.http_port}"

    def config(self) -> dict[str, Any]:
        """The JSON configuration written at start (exposed so tests can assert on it)."""
        modalities: dict[str, list[str | int]] = {
            CALLING_MODALITY: [self.calling_aet, LOOPBACK, self.calling_port],
            KNOWN_MODALITY: [self.known_destination, LOOPBACK, self.destination_port],
            DEAD_MODALITY: [self.dead_destination, LOOPBACK, self.dead_port],
        }
        for key, (aet, host, port) in self.extra_modalities.items():
            modalities[key] = [aet, host, port]
        config: dict[str, Any] = {
            "Name": "COURIER-INTEROP",
            "DicomAet": self.aet,
            "DicomPort": self.port,
            "HttpPort": self.http_port,
            "StorageDirectory": str(self.storage_dir),
            "IndexDirectory": str(self.storage_dir),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
            "DicomModalities": modalities,
            # Close Orthanc's own outgoing (C-STORE SCU) associations as soon as a move ends,
            # instead of keeping them open 5 s for reuse, so each move is observable on its own.
            "DicomAssociationCloseDelay": 0,
            "StableAge": 1,
            # Orthanc answers C-FIND in DefaultEncoding whatever the query asks for; the default
            # "Latin1" would strip the Japanese name of the interop data set.
            "DefaultEncoding": self.default_encoding,
            "SaveJobs": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
        }
        config.update(self.extra_config)
        return config

    def _prepare(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")

    def _command(self) -> list[str]:
        return [self.binary, str(self.config_path)]

    def _ready_ports(self) -> tuple[int, int]:
        # Orthanc opens the DICOM port first, then the HTTP port.
        return (self.port, self.http_port)

    def _check_ready(self) -> None:
        system = self.rest_get("/system")
        if system.get("DicomAet") != self.aet:
            raise OSError(f"unexpected /system answer: {system!r}")

    # -- REST ----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None, content_type: str) -> Any:
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method,
            headers={"Content-Type": content_type} if body is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"Orthanc {method} {path} -> HTTP {exc.code}: {detail}") from exc
        return json.loads(payload) if payload else None

    def rest_get(self, path: str) -> Any:
        """GET ``path`` on the REST API and decode the JSON answer."""
        return self._request("GET", path, None, "application/json")

    def rest_post(self, path: str, body: bytes | str | Mapping[str, Any] | list[Any]) -> Any:
        """POST to the REST API: bytes as DICOM, anything else as JSON."""
        if isinstance(body, bytes):
            return self._request("POST", path, body, "application/dicom")
        data = body if isinstance(body, str) else json.dumps(body)
        return self._request("POST", path, data.encode(), "application/json")

    def rest_put(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("PUT", path, json.dumps(body).encode(), "application/json")

    def upload(self, items: Iterable[Dataset | Path | str | bytes]) -> list[str]:
        """Store instances through REST POST /instances; returns their Orthanc IDs."""
        ids = []
        for item in items:
            answer = self.rest_post("/instances", _dicom_bytes(item))
            if answer.get("Status") not in ("Success", "AlreadyStored"):
                raise RuntimeError(f"Orthanc refused an instance: {answer!r}")
            ids.append(answer["ID"])
        return ids

    def instance_count(self) -> int:
        return len(self.rest_get("/instances"))

    def add_modality(self, name: str, aet: str, port: int, host: str = LOOPBACK) -> None:
        """Register another modality at run time (e.g. the engine's own storage SCP)."""
        self.rest_put(f"/modalities/{name}", {"AET": aet, "Host": host, "Port": port})
