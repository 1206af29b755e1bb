"""`make bench`: Tocsin against the alternatives, on this machine. Prints a table; writes one
var/bench/<time>.json per run with the machine it ran on.

    python -m ops.bench                       everything (N = 10,000 and 100,000; long)
    python -m ops.bench --quick               N = 10,000 only
    python -m ops.bench --n 30000 --scenario sms --scenario loop

Scenarios, each against a separate `tocsin sandbox` process answering every API call after 100 ms
(a real provider's round trip) unless said otherwise:
- sms: a fresh `tocsin serve` (embedded SQLite + Redis, 2 workers) imports N people and sends one
  SMS alert to all of them (ops/bench_send.py);
- channels: the same on SMS, voice, email and push at once (1 person in 10 with a browser subscribed);
- loop, pool: the same N messages through the official twilio client in a plain loop, and in a
  thread pool of 32: run on a sample (LOOP_SAMPLE, POOL_SAMPLE) and extrapolated linearly to N,
  which the table says in its "measured on" column (ops/bench_baselines.py);
- sms-0ms: Tocsin's SMS alert to the largest N at 0 ms latency, no status callbacks: the sending path alone;
- ceiling: the requests per second the sandbox itself accepts at 0 ms from a minimal aiohttp client
  (the median of CEILING_RUNS runs);
- targeting, escalation: geofencing and an escalation step (ops/bench_targeting.py, bench_escalation.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

OUT = Path("var/bench")
SIZES = (10_000, 100_000)
LATENCY_MS = 100
#: Baseline samples: long enough to be steady (the loop: 30 s at 100 ms), short enough to wait for.
LOOP_SAMPLE = 300
POOL_SAMPLE = 3_000
CEILING_REQUESTS = 30_000
#: The ceiling is measured this many times; the table shows the median (`ceiling_row`).
CEILING_RUNS = 3
SCENARIOS = ("sms", "channels", "loop", "pool", "sms-0ms", "ceiling", "targeting", "escalation")


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, Python, library versions, commit, load."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    versions = {}
    for package in ("tocsin", "aiohttp", "twilio", "rq", "redis", "SQLAlchemy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "python": platform.python_version(), "versions": versions, "commit": commit or None,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def _row(scenario: str, n: int, latency_ms: int, measured_on: int, first_s: float | None, total_s: float,
         worker_mb: float | None, **extra: Any) -> dict[str, Any]:
    return {"scenario": scenario, "recipients": n, "latency_ms": latency_ms, "measured_on": measured_on,
            "time_to_first_message_s": None if first_s is None else round(first_s, 3),
            "total_s": round(total_s, 2), "messages_per_s": round(n / total_s, 1) if total_s else None,
            "peak_worker_rss_mb": worker_mb, **extra}


def ceiling_row(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The ceiling's row: the median of its runs by requests/s. One run of a few seconds moved by
    a third from one `make bench` to the next (two processes sharing two cores); every run is kept."""
    measured = sorted(runs, key=lambda m: m["sent"] / m["seconds"])
    median = measured[len(measured) // 2]
    return _row("ceiling", median["sent"], 0, median["sent"], median["first_s"], median["seconds"], None,
                client_peak_rss_mb=median["peak_rss_mb"], errors=median["errors"],
                runs_per_s=[round(m["sent"] / m["seconds"], 1) for m in measured])


def tocsin_row(scenario: str, result: dict[str, Any]) -> dict[str, Any]:
    n = sum(v["count"] for v in result["per_channel"].values()) - result["duplicates"]
    row = _row(scenario, result["recipients"], result["latency_ms"], result["recipients"],
               result["time_to_first_message_s"], result["handed_over_s"], result["peak_worker_rss_mb"],
               messages=n, detail=result)
    row["messages_per_s"] = result["messages_per_s"]  # every message, on every channel
    return row


def baseline_row(scenario: str, n: int, latency_ms: int, measured: dict[str, Any]) -> dict[str, Any]:
    """Scale a sample's time linearly to N (the per-message time of a steady loop or pool)."""
    total = measured["seconds"] * n / measured["sent"]
    return _row(scenario, n, latency_ms, measured["sent"], measured["first_s"], total, measured["peak_rss_mb"],
                sample=measured)


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Tocsin's SMS rows against the baselines at the same N, and sms-0ms against the ceiling."""
    lines = []
    by = {(r["scenario"], r["recipients"]): r for r in rows}
    for r in rows:
        if r["scenario"] != "sms":
            continue
        for other in ("loop", "pool"):
            b = by.get((other, r["recipients"]))
            if b:
                x = b["total_s"] / r["total_s"]
                r[f"vs_{other}"] = round(x, 1)
                lines.append(f"  SMS to {r['recipients']:,}: {x:,.1f}x the {other} "
                             f"({r['total_s']} s against {b['total_s']:,} s{'' if b['measured_on'] == b['recipients'] else ', extrapolated'})")
    ceiling = next((r for r in rows if r["scenario"] == "ceiling"), None)
    for r in rows:
        if r["scenario"] == "sms-0ms" and ceiling:
            x = r["messages_per_s"] / ceiling["messages_per_s"]
            r["vs_ceiling"] = round(x, 2)
            lines.append(f"  SMS at 0 ms, {r['recipients']:,}: {r['messages_per_s']:,} msg/s = {x:.0%} of the sandbox "
                         f"ceiling ({ceiling['messages_per_s']:,} requests/s)")
    return lines


COLUMNS = [("scenario", "scenario", 9), ("recipients", "N", 8), ("latency_ms", "latency", 7),
           ("measured_on", "measured on", 11), ("time_to_first_message_s", "first msg s", 11),
           ("total_s", "total s", 9), ("messages_per_s", "msg/s", 8), ("peak_worker_rss_mb", "worker MB", 9)]


def table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any, width: int) -> str:
        text = "-" if value is None else f"{value:,}" if isinstance(value, (int, float)) else str(value)
        return text.rjust(width)

    lines = ["  ".join(name.rjust(w) for _, name, w in COLUMNS)]
    for r in rows:
        line = "  ".join(cell(r[k], w) for k, _, w in COLUMNS)
        detail = r.get("detail", {})
        per = detail.get("per_channel", {})
        if len(per) > 1:
            line += "   " + ", ".join(f"{c} {v['count']:,} at {v['per_s']:,}/s" for c, v in per.items())
        lines.append(line)
        if detail.get("cpu_us_per_message"):
            lines.append(" " * 11 + "CPU per message (µs): " + ", ".join(
                f"{role} {us:,}" for role, us in detail["cpu_us_per_message"].items()))
    return "\n".join(lines)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", "--only", choices=SCENARIOS, action="append", dest="scenarios",
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--n", "--sizes", dest="n", help="recipient counts, comma-separated (default 10000,100000)")
    parser.add_argument("--quick", action="store_true", help="N = 10,000 only")
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS, help="sandbox API latency (default 100)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for the sms and channels scenarios (default: Tocsin's, TOCSIN_WORKERS)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Tocsin setting for the sms and channels scenarios, without its TOCSIN_ prefix "
                             "(repeatable), e.g. --set BATCH_SIZE=500")
    parser.add_argument("--no-callbacks", action="store_true",
                        help="the sandbox sends no status callbacks in the sms and channels scenarios")
    parser.add_argument("--loop-sample", type=int, default=LOOP_SAMPLE)
    parser.add_argument("--pool-sample", type=int, default=POOL_SAMPLE)
    parser.add_argument("--ceiling-requests", type=int, default=CEILING_REQUESTS)
    args = parser.parse_args(argv)
    # Stop cleanly on Ctrl-C or kill (even when started in the background, where SIGINT is ignored):
    # the finally blocks of each scenario stop the servers they started. Only from the command line.
    if argv is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop)
    sizes = [int(s) for s in args.n.split(",")] if args.n else [SIZES[0]] if args.quick else list(SIZES)
    if any("=" not in item for item in args.set):
        parser.error("--set takes NAME=VALUE, e.g. --set BATCH_SIZE=500")
    extra = dict(item.split("=", 1) for item in args.set)
    if args.workers is None:
        from ops import defaults
        args.workers = defaults.WORKERS
    scenarios = set(args.scenarios or SCENARIOS)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    runs = OUT / "runs" / stamp
    runs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"started": stamp, "machine": machine(), "sizes": sizes, "rows": [], "other": {}}
    out_file = OUT / f"{stamp}.json"
    rows: list[dict[str, Any]] = report["rows"]

    def save() -> None:
        out_file.write_text(json.dumps(report, indent=2))

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        save()
        print("\n".join(table([row]).splitlines()[1:]), flush=True)

    from ops.bench_send import run_alert
    print(table([]), flush=True)
    for n in sizes:
        if "sms" in scenarios:
            done(tocsin_row("sms", run_alert(n, latency_ms=args.latency_ms, workers=args.workers, root=runs / "sms",
                                             callbacks=not args.no_callbacks, settings=extra)))
    if scenarios & {"loop", "pool", "ceiling"}:
        from ops.bench_baselines import Sandbox, measure
        with Sandbox(runs / "baselines-sandbox.log") as sandbox:
            for kind, sample in (("loop", args.loop_sample), ("pool", args.pool_sample)):
                if kind in scenarios:
                    sandbox.configure(args.latency_ms)
                    measured = measure(kind, sandbox.twilio_base, min(sample, max(sizes)))
                    for n in sizes:
                        done(baseline_row(kind, n, args.latency_ms, measured))
            if "ceiling" in scenarios:
                sandbox.configure(0)
                done(ceiling_row(measure("ceiling", sandbox.twilio_base, args.ceiling_requests)
                                 for _ in range(CEILING_RUNS)))
    if "sms-0ms" in scenarios:
        done(tocsin_row("sms-0ms", run_alert(max(sizes), latency_ms=0, workers=args.workers, root=runs / "sms-0ms",
                                                 callbacks=False, settings=extra)))
    for n in sizes:
        if "channels" in scenarios:
            done(tocsin_row("channels", run_alert(n, latency_ms=args.latency_ms, workers=args.workers, root=runs,
                                                  callbacks=not args.no_callbacks,
                                                  channels=("sms", "voice", "email", "push"), settings=extra)))
    if "targeting" in scenarios:
        from ops.bench_targeting import run_targeting_benchmarks
        report["other"]["targeting"] = run_targeting_benchmarks(runs)
    if "escalation" in scenarios:
        from ops.bench_escalation import escalation_step
        report["other"]["escalation"] = escalation_step(100_000, runs)
    lines = ratios(rows)
    save()
    m = report["machine"]
    print()
    print(f"Tocsin against the alternatives: {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
          f"load {m['load_average_at_start']} at start; sandbox latency {args.latency_ms} ms unless 0 is shown")
    print(table(rows))
    if lines:
        print("Ratios (total time of the alternative / Tocsin's):")
        print("\n".join(lines))
    if "escalation" in report["other"]:
        e = report["other"]["escalation"]
        print(f"Escalation step over {e['recipients']:,} recipients, {e['silent']:,} still silent: "
              f"{e['seconds']} s to write and enqueue {e['messages_enqueued']:,} messages (voice + SMS)")
    if "targeting" in report["other"]:
        preview = report["other"]["targeting"]["preview"]
        print(f"Reach preview over {preview['recipients']:,} recipients: "
              f"1,000-vertex polygon {preview['polygon_1000_vertices']['median_ms']} ms, "
              f"5 km circle {preview['circle_5km']['median_ms']} ms")
    print(f"written to {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
