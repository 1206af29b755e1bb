"""`make bench`: Tocsin measured on this machine. Prints tables and writes var/bench/*.json.

    python -m ops.bench                      everything (about 10 minutes on 2 cores)
    python -m ops.bench --only sms --sizes 10000 --latency-ms 0 --no-callbacks

- sms: one SMS alert to N recipients end to end (ops/bench_send.py), N = 10,000 and 100,000;
- channels: one alert on SMS, voice, email and push at once to 10,000 people (1,000 of them with a
  browser subscribed): per-channel throughput;
- targeting: geofence membership over 1,000,000 points, and the reach preview over 100,000
  recipients (ops/bench_targeting.py);
- escalation: one step over 100,000 recipients of whom half have answered (ops/bench_escalation.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ops.bench_escalation import escalation_step
from ops.bench_send import run_alert
from ops.bench_targeting import run_targeting_benchmarks

OUT = Path("var/bench")
SEND_COLUMNS = [("recipients", "N"), ("latency_ms", "latency ms"), ("time_to_first_message_s", "first msg s"),
                ("handed_over_s", "handed over s"), ("messages_per_s", "msg/s"), ("all_recorded_s", "recorded s"),
                ("duplicates", "dups"), ("peak_worker_rss_mb", "worker MB"), ("import_s", "import s")]


def print_send_table(title: str, results: list[dict[str, Any]]) -> None:
    print(title)
    print("  ".join(f"{name:>13}" for _, name in SEND_COLUMNS))
    for r in results:
        print("  ".join(f"{r[key]!s:>13}" for key, _ in SEND_COLUMNS))
        if len(r["per_channel"]) > 1:
            print("    per channel: " + ", ".join(f"{c} {v['count']} at {v['per_s']}/s" for c, v in r["per_channel"].items()))


def _save(name: str, result: dict[str, Any]) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sms", "channels", "targeting", "escalation"], action="append",
                        help="run only these benchmarks (repeatable)")
    parser.add_argument("--sizes", default="10000,100000", help="recipient counts for the SMS benchmark")
    parser.add_argument("--latency-ms", type=int, default=100, help="sandbox API latency (default 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-callbacks", action="store_true",
                        help="sandbox sends no status callbacks (isolates the sending path)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    runs = OUT / "runs"
    only = set(args.only or ["sms", "channels", "targeting", "escalation"])
    printed: list[tuple[str, Any]] = []
    if "sms" in only:
        results = []
        for n in (int(s) for s in args.sizes.split(",")):
            result = run_alert(n, latency_ms=args.latency_ms, workers=args.workers, root=runs,
                               callbacks=not args.no_callbacks)
            _save(f"sms-{n}", result)
            results.append(result)
            print_send_table("SMS", [result])
        printed.append(("sms", results))
    if "channels" in only:
        result = run_alert(10_000, latency_ms=args.latency_ms, workers=args.workers, root=runs,
                           callbacks=not args.no_callbacks, channels=("sms", "voice", "email", "push"))
        _save("channels-10000", result)
        printed.append(("channels", [result]))
    if "targeting" in only:
        result = run_targeting_benchmarks(runs)
        _save("targeting", result)
        printed.append(("targeting", result))
    if "escalation" in only:
        result = escalation_step(100_000, runs)
        _save("escalation-100000", result)
        printed.append(("escalation", result))
    print()
    for kind, value in printed:
        if kind == "sms":
            print_send_table("SMS through the sandbox (tocsin serve, embedded SQLite + Redis, 2 workers)", value)
        elif kind == "channels":
            print_send_table("SMS + voice + email + push in one alert", value)
        elif kind == "escalation":
            print(f"Escalation step over {value['recipients']:,} recipients, {value['silent']:,} still silent: "
                  f"{value['seconds']} s to write and enqueue {value['messages_enqueued']:,} messages (voice + SMS)")
        else:
            preview = value["preview"]
            print(f"Reach preview over {preview['recipients']:,} recipients: "
                  f"1,000-vertex polygon {preview['polygon_1000_vertices']['median_ms']} ms "
                  f"({preview['polygon_1000_vertices']['people']:,} people), "
                  f"5 km circle {preview['circle_5km']['median_ms']} ms ({preview['circle_5km']['people']:,} people)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
