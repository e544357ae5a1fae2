"""Where DICOM Courier keeps its files: platformdirs' per-user directories, with one override.

``--config-dir DIR`` (or ``DICOM_COURIER_CONFIG_DIR``) moves everything under DIR, which tests,
portable installs and a second profile use. Nothing here creates a directory at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "dicom-courier"
CONFIG_DIR_VARIABLE = "DICOM_COURIER_CONFIG_DIR"


@dataclass(frozen=True)
class AppPaths:
    """The directories one profile uses."""

    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def nodes_file(self) -> Path:
        return self.config_dir / "nodes.json"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def receiver_file(self) -> Path:
        """The built-in receiver's settings (:mod:`.receiver_settings`)."""
        return self.config_dir / "receiver.json"


def app_paths(config_dir: str | os.PathLike[str] | None = None) -> AppPaths:
    """Resolve the directories: explicit argument, then the environment, then platformdirs."""
    override = config_dir or os.environ.get(CONFIG_DIR_VARIABLE)
    if override:
        root = Path(override).expanduser().resolve()
        return AppPaths(config_dir=root, data_dir=root / "data", log_dir=root / "logs")
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(
        config_dir=Path(dirs.user_config_dir),
        data_dir=Path(dirs.user_data_dir),
        log_dir=Path(dirs.user_log_dir),
    )
