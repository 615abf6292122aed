"""The ``depthkit`` command line: one subcommand per task, each a thin layer over the public API.

Errors (depthkit's own, and the file system's) print one line on stderr and exit 1 (``--debug``
shows the traceback); usage errors exit 2.
stdout carries results (``--json``); logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

import depthkit as dk

# subcommand modules under depthkit.apps.commands; each has add_parser(subparsers)
COMMANDS = ["demo", "devices", "calibrate", "rectify", "disparity", "depth", "fuse", "eval",
            "bench", "record"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depthkit",
        description="Stereo, time-of-flight and structured light to metric depth and 3D.",
    )
    parser.add_argument("--version", action="version", version=f"depthkit {dk.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"depthkit.apps.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"depthkit.apps.commands.{name}":
                raise
            continue  # stage not built yet
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Dask logs every connection at INFO (read when distributed is imported, for --scheduler)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "info" if args.verbose else "warning")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except dk.DepthkitError as exc:
        if args.debug:
            raise
        print(f"depthkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the file system said no (exists, permission, disk full, ...)
        if args.debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"depthkit {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"depthkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
