"""Run every benchmark (``make bench``): each bench_*.py in turn, in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        if rc != 0:
            print(f"{script.name} failed with exit code {rc}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
