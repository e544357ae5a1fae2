"""Entry point of the ``dicom-courier`` command: the window, or a command-line subcommand."""

from __future__ import annotations

import sys

_WINDOW_OPTIONS = {"--demo", "--config-dir"}


def _wants_window(argv: list[str]) -> bool:
    """No subcommand (only window options such as --demo / --config-dir DIR) opens the window."""
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--config-dir" and rest:
            rest.pop(0)
        elif arg.startswith("--config-dir=") or arg == "--demo":
            continue
        else:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from dicom_courier.core.cli.arguments import undecodable_argument

    bad_bytes = undecodable_argument(args)  # the window's --config-dir too: UTF-8 text only
    if bad_bytes is not None:
        sys.stderr.write(bad_bytes + "\n")
        return 2
    if _wants_window(args):
        from dicom_courier.gui.platform_check import xcb_problem

        problem = xcb_problem()  # before Qt, whose own message names one library only
        if problem is not None:
            sys.stderr.write(problem + "\n")
            return 1
        from dicom_courier.gui.app import run_app

        config_dir = None
        for index, arg in enumerate(args):
            if arg == "--config-dir" and index + 1 < len(args):
                config_dir = args[index + 1]
            elif arg.startswith("--config-dir="):
                config_dir = arg.split("=", 1)[1]
        return run_app(config_dir, demo="--demo" in args)
    from dicom_courier.core.cli.main import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
