"""`make bench`: run every benchmark module in bench/ (each has a `main()` that prints its figures).

Benchmarks run against PostgreSQL: DATABASE_URL if set, else postgres://postgres@127.0.0.1:5432/jobtrace_bench.
Pick some with `python -m bench records spans`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jobtrace_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    # The bench process sets up millions of rows in single statements, as manage.py commands do: no statement
    # timeout for it. The servers it starts (_support.gunicorn) keep the production default.
    if "JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS" not in os.environ:
        os.environ["JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS"] = "0"
        os.environ["JOBTRACE_BENCH_SET_STATEMENT_TIMEOUT"] = "1"
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    wanted = argv or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmarks {unknown}; have {names}")
        return 2
    failures = 0
    for name in wanted:
        print(f"\n=== bench/{name}.py")
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        try:
            module.main()
        except Exception as exc:  # a failing benchmark is reported, the others still run
            failures += 1
            print(f"FAILED: {type(exc).__name__}: {exc}")
        print(f"({time.perf_counter() - started:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
