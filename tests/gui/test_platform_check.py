"""Issue 11 §8: on a desktop without the libraries Qt's xcb plugin needs, the window entry
prints the exact install command and exits 1, before Qt prints its one-library message."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dicom_courier.__main__ import main
from dicom_courier.gui import platform_check
from dicom_courier.gui.platform_check import XCB_LIBRARIES, can_load, uses_xcb, xcb_problem

FRESH_DEBIAN = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                "libxcb-image.so.0", "libxcb-render-util.so.0", "libxkbcommon-x11.so.0"}
X11 = {"DISPLAY": ":0"}


def fake_lookup(missing: set[str]) -> Any:
    return lambda soname: soname not in missing


def test_a_fresh_desktop_gets_one_apt_get_command_naming_every_missing_package() -> None:
    message = xcb_problem(X11, "linux", fake_lookup(FRESH_DEBIAN), has_apt=True)
    assert message is not None
    assert ("sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
            "libxcb-render-util0 libxkbcommon-x11-0\n") in message
    assert "libxcb-cursor.so.0" in message and "reinstall" not in message


def test_only_the_missing_ones_are_named() -> None:
    message = xcb_problem(X11, "linux", fake_lookup({"libxcb-cursor.so.0"}), has_apt=True)
    assert message is not None and "sudo apt-get install libxcb-cursor0\n" in message


def test_nothing_missing_says_nothing() -> None:
    assert xcb_problem(X11, "linux", fake_lookup(set()), has_apt=True) is None


def test_without_apt_the_packages_are_named_for_the_reader() -> None:
    message = xcb_problem(X11, "linux", fake_lookup({"libxcb-icccm.so.4"}), has_apt=False)
    assert message is not None and "sudo" not in message and "libxcb-icccm4" in message


@pytest.mark.parametrize(("environ", "platform", "expected"), [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({}, "linux", False),  # no X display: Qt will not load xcb (it says so itself)
    ({"DISPLAY": ":0"}, "darwin", False),
    ({"DISPLAY": ":0"}, "win32", False),
])
def test_only_checked_when_qt_will_use_xcb(environ: dict[str, str], platform: str,
                                           expected: bool) -> None:
    assert uses_xcb(environ, platform) is expected
    lookup_called: list[str] = []
    xcb_problem(environ, platform, lambda s: lookup_called.append(s) is None, has_apt=True)
    assert bool(lookup_called) is expected


def test_the_real_lookup_is_fast() -> None:
    can_load("libc.so.6")  # warm the loader
    started = time.perf_counter()
    for soname, _package in XCB_LIBRARIES:
        can_load(soname)
    assert time.perf_counter() - started < 0.25  # measured: ~1-12 ms
    assert can_load("libc.so.6") and not can_load("libcourier-does-not-exist.so.9")


def test_the_window_entry_prints_the_command_and_exits_1_before_qt(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(platform_check, "can_load", lambda soname: soname not in FRESH_DEBIAN)
    monkeypatch.setattr(platform_check, "xcb_problem", lambda: xcb_problem(
        X11, "linux", fake_lookup(FRESH_DEBIAN), has_apt=True))
    started: list[Any] = []
    import dicom_courier.gui.app as app

    monkeypatch.setattr(app, "run_app", lambda *a, **k: started.append(a) or 0)
    assert main(["--demo"]) == 1
    assert not started  # the window was never started
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in err
