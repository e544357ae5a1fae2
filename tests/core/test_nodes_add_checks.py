"""`nodes add` checks what it saves: unusable TLS files are refused when the profile is saved
(seen: "Saved", then an error at the first search), and the message cap is a setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_courier.core.cli import main as cli_main


def _add(config: Path, *extra: str) -> int:
    return cli_main.run(["--config-dir", str(config), "nodes", "add", "X", "--host", "h",
                         "--port", "104", "--aet", "PACS", *extra])


@pytest.mark.parametrize("content", ["", "garbage\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                     "-----END PRIVATE KEY-----\n"])
def test_a_ca_file_that_holds_no_certificate_is_refused_at_save(
        tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(content)
    assert _add(tmp_path, "--tls", "--tls-ca", str(ca)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TLS CA file" in err[0]
    assert not (tmp_path / "nodes.json").exists()


def test_the_message_cap_is_saved_and_checked(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _add(tmp_path, "--max-message-mb", "0") == 2
    assert "--max-message-mb" in capsys.readouterr().err
    assert _add(tmp_path, "--max-message-mb", "8") == 0
    saved = json.loads((tmp_path / "nodes.json").read_text())
    assert saved["pacs"][0]["max_message_mb"] == 8
