"""`make bench` machinery at tiny N: the baselines, the ceiling, the table, the JSON file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops import bench
from ops.bench_baselines import Sandbox, measure


def test_table_ratios_and_extrapolation_say_what_was_measured() -> None:
    loop = bench.baseline_row("loop", 10_000, 100, {"sent": 300, "seconds": 33.0, "first_s": 0.11, "peak_rss_mb": 50})
    assert loop["total_s"] == 1100.0 and loop["measured_on"] == 300 and loop["messages_per_s"] == 9.1
    sms = bench._row("sms", 10_000, 100, 10_000, 0.5, 5.5, 120.0)
    ceiling = bench._row("ceiling", 30_000, 0, 30_000, 0.1, 10.0, None)
    zero = bench._row("sms-0ms", 10_000, 0, 10_000, 0.4, 5.0, 110.0)
    lines = bench.ratios([sms, loop, ceiling, zero])
    assert sms["vs_loop"] == 200.0 and zero["vs_ceiling"] == 0.67
    assert "extrapolated" in lines[0]
    printed = bench.table([sms, loop])
    assert "measured on" in printed.splitlines()[0] and "300" in printed.splitlines()[2]


def test_machine_names_cpu_cores_python_and_versions() -> None:
    m = bench.machine()
    assert m["cores"] >= 1 and m["cpu"] and m["python"].count(".") == 2
    assert m["versions"]["twilio"] and m["versions"]["aiohttp"]


def test_baselines_and_ceiling_run_against_a_sandbox_process(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sandbox.log") as sandbox:
        sandbox.configure(0)
        for kind, count in (("loop", 5), ("pool", 40), ("ceiling", 200)):
            result = measure(kind, sandbox.twilio_base, count)
            assert result["sent"] == count and result["seconds"] > 0 and result["peak_rss_mb"] > 10
        from ops.bench_send import _http
        assert _http(f"{sandbox.url}/sandbox/stats")["sms"]["count"] == 5 + 40 + 200


def test_bench_main_writes_one_json_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "OUT", tmp_path)
    assert bench.main(["--n", "20", "--scenario", "loop", "--loop-sample", "3", "--latency-ms", "0"]) == 0
    [written] = list(tmp_path.glob("*.json"))
    report = json.loads(written.read_text())
    assert report["machine"]["cores"] >= 1
    [row] = report["rows"]
    assert (row["scenario"], row["recipients"], row["measured_on"]) == ("loop", 20, 3)


def test_the_ceiling_is_the_median_of_its_runs() -> None:
    runs = [{"sent": 30_000, "seconds": s, "first_s": 0.1, "peak_rss_mb": 40, "errors": 0} for s in (3.0, 5.0, 4.0)]
    row = bench.ceiling_row(runs)
    assert row["total_s"] == 4.0 and row["messages_per_s"] == 7500.0
    assert row["runs_per_s"] == [6000.0, 7500.0, 10000.0]
