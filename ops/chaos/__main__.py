"""`python -m ops.chaos [scenario ...] [--people N]`: run chaos scenarios and print the table."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
import traceback

from ops.chaos.harness import Result, Stack, postgres_available

SCENARIOS = ("worker_death", "redis_loss", "db_outage", "provider", "webhook_storm")
#: People per scenario by default: worker death is the big one (issue 9 asks for 20,000).
DEFAULT_PEOPLE = {"worker_death": 20_000, "redis_loss": 5_000, "db_outage": 5_000, "provider": 2_000,
                  "webhook_storm": 5_000}


def table(results: list[Result]) -> str:
    head = f"{'scenario':<40} {'expected':>8} {'delivered':>9} {'missing':>7} {'duplicated':>10} {'time_s':>7}  notes"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.scenario:<40} {r.expected:>8} {r.delivered:>9} {r.missing:>7} {r.duplicated:>10} "
                     f"{r.seconds:>7.1f}  {r.notes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.chaos", description=__doc__)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[], metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--people", type=int, default=None, help="people per scenario (default: per scenario)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    # Stopped from outside: still stop every process a scenario started (the `finally` below).
    def stopped(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not interrupt the clean-up
        sys.exit(143)
    signal.signal(signal.SIGTERM, stopped)
    database = "postgresql" if postgres_available() else "sqlite"
    print(f"database: {database}" + ("" if database == "postgresql" else
                                     " (ops/local_postgres.py not present: PostgreSQL scenarios use SQLite)"),
          flush=True)
    results: list[Result] = []
    for name in args.scenarios or SCENARIOS:
        module = importlib.import_module(f"ops.chaos.{name}")
        stack = Stack(workers=args.workers, database=database, extra_env=getattr(module, "ENV", {}))
        people = args.people or DEFAULT_PEOPLE[name]
        print(f"== {name}: {people} people, logs in {stack.root}", flush=True)
        started = time.monotonic()
        try:
            stack.start()
            found = module.run(stack, people)
        except Exception as exc:  # a scenario that cannot finish is a finding, reported as such
            traceback.print_exc()
            found = [Result(name, 0, 0, 0, 0, time.monotonic() - started, f"ERROR: {exc}")]
        finally:
            stack.stop()
        for r in found:
            print(table([r]).splitlines()[-1], flush=True)
        results.extend(found)
    print()
    print(table(results))
    return 0 if all(r.ok and not r.notes.startswith("ERROR") and "NOT EXACT" not in r.notes for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
