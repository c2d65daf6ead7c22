"""Benchmark the report writer: wall/CPU time and peak memory, each run in a fresh child process.

    .venv/bin/python benchmarks/report.py                    # both cases below
    .venv/bin/python benchmarks/report.py --case units --repeat 5
    .venv/bin/python benchmarks/report.py --case data --responses 200000

Cases:

* ``units``: the district workbook for 10,000 units (compact unit blocks, figures included), from a
  synthetic index table. Goal: ≤ 10 s.
* ``data``: the workbook of 16 communes with ``--include-data`` for 1,000,000 responses (sheets
  ``Dữ liệu`` and ``Mã hoá`` in constant-memory mode). Goal: peak memory ≤ 500 MB.

Input data are generated in the child before the clock starts; the peak RSS is the child's whole life
(interpreter, libraries, the responses table and the writer), read from ``getrusage`` after it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(case: str, units: int, responses: int, figures: bool, out: str) -> None:
    """Build the inputs, then time one report; print the figures as JSON."""
    sys.path.insert(0, str(ROOT))
    import questionnaires
    from reports.synthetic import synthetic_index_table, synthetic_responses
    from reports.workbook import build_report

    questionnaire = questionnaires.load_questionnaire("sipas-2017")
    frame = None
    if case == "units":
        codes = [f"xa-{i:05d}" for i in range(units)]
        names = {c: f"Xã số {i + 1}" for i, c in enumerate(codes)}
        table = synthetic_index_table(questionnaire, codes, names=names)
    else:
        unit_list = questionnaires.load_units("tra-bong-2023")
        names = {u.code: u.name for u in unit_list}
        per_unit = [responses // len(unit_list)] * len(unit_list)
        per_unit[0] += responses - sum(per_unit)
        frame = synthetic_responses(questionnaire, unit_list.codes, per_unit, numeric_codes=True)
        table = synthetic_index_table(questionnaire, unit_list.codes, names=names, n=per_unit)
    wall, cpu = time.perf_counter(), time.process_time()
    build_report(table, questionnaire, out, unit_names=names, responses=frame, pictures=figures)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    size_mb = os.path.getsize(out) / 1e6
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mb": peak_mb, "size_mb": size_mb}))


def run_child(case: str, units: int, responses: int, figures: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "bao-cao.xlsx")
        args = [sys.executable, __file__, "--child", case, "--units", str(units)]
        args += ["--responses", str(responses)]
        if not figures:
            args.append("--no-figures")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        done = subprocess.run([*args, "--out", out], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"benchmark child failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        # Cross-check with the kernel's view of the finished child (a running maximum over children).
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["children_peak_mb"] = max(before, after) / 1024
        return result


def report(label: str, runs: list[dict], goal: str) -> None:
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    size = runs[0]["size_mb"]
    print(
        f"{label}: median wall {wall:.2f} s, median CPU {cpu:.2f} s over {len(runs)} run(s); "
        f"peak RSS {peak:.0f} MB; file {size:.1f} MB  [goal: {goal}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=["units", "data", "all"], default="all")
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the units case (data: one run)")
    parser.add_argument("--no-figures", action="store_true", help="leave out the matplotlib figures")
    parser.add_argument("--child", choices=["units", "data"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.units, args.responses, not args.no_figures, args.out)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}")
    if args.case in ("units", "all"):
        runs = [run_child("units", args.units, 0, not args.no_figures) for _ in range(args.repeat)]
        report(f"report of {args.units:,} units", runs, "≤ 10 s")
    if args.case in ("data", "all"):
        runs = [run_child("data", 16, args.responses, not args.no_figures)]
        label = f"report of 16 units with {args.responses:,} responses (--include-data)"
        report(label, runs, "peak ≤ 500 MB")


if __name__ == "__main__":
    main()
