"""Before the window starts on X11: are the system libraries Qt's xcb plugin needs installed?

On a fresh Debian or Ubuntu desktop, Qt's xcb platform plugin fails to load because some of
its libraries are missing (``libxcb-cursor0`` first of all), and Qt's message names one of
them and says that "reinstalling the application may fix this problem", which it does not.
:func:`xcb_problem` asks the dynamic loader for every library the plugin needs (``dlopen``, the
same lookup Qt makes, about a millisecond in all) and returns one message naming the exact
``sudo apt-get install ...`` command for the missing ones. It imports no Qt, so it can run
before the QApplication (and before PySide6 is even imported).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections.abc import Callable, Mapping

#: What PySide6's xcb plugin (libqxcb.so and libQt6XcbQpa.so) needs from the system, as
#: (shared object name, Debian/Ubuntu package). The C and C++ runtimes are left out: without
#: them nothing would run at all.
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxcb.so.1", "libxcb1"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libX11.so.6", "libx11-6"),
    ("libGL.so.1", "libgl1"),
)

#: Finds a shared object by name: True if the dynamic loader can load it.
Lookup = Callable[[str], bool]


def can_load(soname: str) -> bool:
    """True if the dynamic loader finds ``soname`` (and everything it needs), as Qt would."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """True if Qt will pick its xcb plugin: Linux, ``QT_QPA_PLATFORM`` unset or "xcb…", and
    an X display (``DISPLAY``) to talk to. (Wayland sessions set ``DISPLAY`` too, for
    Xwayland; Qt picks xcb there unless ``QT_QPA_PLATFORM`` says wayland.)"""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen and not chosen.startswith("xcb"):
        return False
    return bool(environ.get("DISPLAY"))


def missing_xcb_libraries(lookup: Lookup = can_load) -> list[tuple[str, str]]:
    """The (shared object, package) pairs of :data:`XCB_LIBRARIES` that ``lookup`` cannot
    find, in that order."""
    return [(soname, package) for soname, package in XCB_LIBRARIES if not lookup(soname)]


def xcb_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
                lookup: Lookup = can_load, has_apt: bool | None = None) -> str | None:
    """The message to print (and then exit 1) when the window cannot start on X11 because
    system libraries are missing; None when it can (or Qt will not use xcb).

    ``has_apt``: whether ``apt-get`` is there (None: look on PATH); without it the packages
    are named by their Debian names, for the reader to translate."""
    if not uses_xcb(environ, platform):
        return None
    missing = missing_xcb_libraries(lookup)
    if not missing:
        return None
    if has_apt is None:
        has_apt = shutil.which("apt-get") is not None
    packages = " ".join(package for _soname, package in missing)
    names = ", ".join(soname for soname, _package in missing)
    how = (f"Install them with:\n\n    sudo apt-get install {packages}\n" if has_apt else
           f"Install your distribution's packages for them (on Debian and Ubuntu: {packages}).\n")
    return ("DICOM Courier cannot open its window: Qt's X11 (xcb) platform plugin needs "
            f"system libraries that are not installed: {names}.\n{how}\n"
            "Then start it again. (Without a desktop, 'dicom-courier demo' runs the demo on "
            "the command line.)")
