"""``depthkit bench NAME [ARGS...]``: run a benchmark from the source tree's ``benchmarks/``.

``depthkit bench stereo --scenes teddy`` runs ``benchmarks/bench_stereo.py`` (its ``main`` with
the remaining arguments); any ``benchmarks/bench_NAME.py`` with a ``main(argv)`` is a target.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import depthkit as dk

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def targets() -> dict[str, Path]:
    """Benchmark name -> script path (empty when the benchmarks folder is not there)."""
    if not BENCH_DIR.is_dir():
        return {}
    return {p.stem[len("bench_"):]: p for p in sorted(BENCH_DIR.glob("bench_*.py"))}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="run a benchmark (stereo, ...)",
        description="Run benchmarks/bench_NAME.py from the source tree with the remaining "
                    "arguments (e.g. `depthkit bench stereo --scenes teddy --json`).")
    p.add_argument("name", help="benchmark name (e.g. stereo)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(func=run)


def run(args) -> int:
    found = targets()
    if args.name not in found:
        if not found:
            raise dk.errors.DepthkitError(
                f"no benchmarks folder at {BENCH_DIR}; benchmarks ship with the source tree, "
                "run them from a checkout.")
        raise dk.errors.ParameterError(
            f"unknown benchmark {args.name!r}; available: {', '.join(found)}.")
    spec = importlib.util.spec_from_file_location(f"_depthkit_bench_{args.name}",
                                                  found[args.name])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "main"):
        raise dk.errors.DepthkitError(f"{found[args.name]} has no main(argv) function.")
    return int(mod.main(list(args.args)) or 0)
