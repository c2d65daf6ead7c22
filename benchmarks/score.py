"""Scoring benchmark: the engine against R's survey package, and at district-archive scale.

Three measurements on seeded synthetic sipas-2017 data (22 items on the 1-5 scale, blanks, the
"đã góp ý" gate, strata = procedure fields, a sampling frame: design weights and finite population
correction, standard errors and Korn-Graubard intervals for every unit):

1. **against R** — 1,000 units × ~50 responses. Our ``analysis.score`` and R's ``survey``
   (``svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N)``, ``svytotal`` and ``svycontrast``
   of the index per unit, the reference of ``tests/fixtures/analysis``) on the same data. Both times
   exclude reading files and starting the interpreter. The estimates must agree (index to 1e-9,
   standard error to 1e-6 relative) or the script exits 1.
2. **in memory** — 10,000,000 responses × 22 items across 10,000 units: ``analysis.score`` on a
   DataFrame held in memory (codes as nullable Int8, unit and stratum categorical), median over runs.
3. **end to end** — ``sipas score`` reading the same responses from Parquet (with text response ids,
   as the app exports them) and a frame CSV, writing JSON; median over runs, peak memory of the command.

    .venv/bin/python benchmarks/score.py                 # everything (several minutes, mostly R)
    .venv/bin/python benchmarks/score.py --quick         # smaller sizes, a smoke test
    .venv/bin/python benchmarks/score.py --skip-r --runs 3
    .venv/bin/python benchmarks/score.py --skip-r --reference /tmp/old-tree --rounds 3

Times are wall-clock medians; CPU time is printed beside them because on a shared machine the wall
time also measures the neighbours. Peak memory is the largest resident set (ru_maxrss) of the process
that held the data and scored it.

``--reference PATH`` compares this checkout (or ``--tree``) with another one (say ``git worktree add
PATH HEAD~1``): the same benchmark runs in a fresh process per tree, with that tree's packages first
on ``sys.path``, alternating reference and this tree for ``--rounds`` rounds; the medians per tree
and their ratio are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "analysis"
ITEMS = (
    [f"tiep_can_{i}" for i in range(1, 5)]
    + [f"thu_tuc_{i}" for i in range(1, 6)]
    + [f"cong_chuc_{i}" for i in range(1, 7)]
    + [f"ket_qua_{i}" for i in range(1, 4)]
    + [f"phan_anh_{i}" for i in range(1, 5)]
)
STRATA = ["dat_dai", "ho_tich", "chung_thuc", "khac"]


def synthetic(
    n: int, units: int, seed: int = 2023, text_ids: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A responses table for sipas-2017 and its frame, drawn without Python loops over responses."""
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, units, n).astype(np.int32)
    stratum = rng.choice(len(STRATA), size=n, p=[0.35, 0.3, 0.25, 0.1]).astype(np.int8)
    level = rng.uniform(0.55, 0.99, units)[unit]
    gop_y = np.where(rng.random(n) < 0.45, 1, 2).astype(np.int8)
    ids = np.char.add("R", np.char.zfill(np.arange(1, n + 1).astype(str), 8)) if text_ids else None
    columns: dict[str, object] = {
        "response_id": pd.array(ids, dtype=object) if text_ids else np.arange(1, n + 1, dtype=np.int64),
        "unit": pd.Categorical.from_codes(unit, [f"xa-{i:05d}" for i in range(units)]),
        "stratum": pd.Categorical.from_codes(stratum, STRATA),
        "da_gop_y": pd.array(gop_y, dtype="Int8"),
    }
    for item in ITEMS:
        satisfied = rng.random(n) < level
        codes = np.where(satisfied, rng.integers(4, 6, n), rng.integers(1, 4, n)).astype(np.int8)
        blank = rng.random(n) < 0.03
        if item.startswith("phan_anh"):
            blank |= gop_y == 2
        columns[item] = pd.arrays.IntegerArray(codes, blank)
    df = pd.DataFrame(columns)
    counts = np.bincount(unit.astype(np.int64) * len(STRATA) + stratum, minlength=units * len(STRATA))
    extra = rng.integers(0, 4, units * len(STRATA)) * np.maximum(counts, 1)
    frame = pd.DataFrame(
        {
            "unit": np.repeat([f"xa-{i:05d}" for i in range(units)], len(STRATA)),
            "stratum": STRATA * units,
            "population": counts + extra + 1,
        }
    )
    return df, frame


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def timed(fn, runs: int) -> tuple[float, float, list[float], object]:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), walls, result


R_SCRIPT = r"""
source(file.path("{fixtures}", "common.R"))
d <- read_responses("{responses}")
frame <- read.csv("{frame}", colClasses = c("character", "character", "numeric"))
t0 <- proc.time()
d$cell <- paste(d$unit, d$stratum, sep = "/")
frame$cell <- paste(frame$unit, frame$stratum, sep = "/")
n_h <- table(d$cell)
d$N <- frame$population[match(d$cell, frame$cell)]
d$w <- d$N / as.numeric(n_h[d$cell])
s <- sipas2017(d, share_score())
design <- svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N, data = s$data)
rows <- by_unit(design, s$data, s$tree, list(), "cell")
elapsed <- (proc.time() - t0)[["elapsed"]]
write_rows(rows, "{out}")
cat(sprintf("R_ELAPSED %.6f\n", elapsed))
"""


def against_r(units: int, per_unit: int, runs: int, figures: dict[str, list[float]]) -> bool:
    from analysis import score
    from questionnaires import load_questionnaire

    print(
        f"\n== 1. against R survey: {units:,} units × ~{per_unit} responses, sipas-2017, design weights + fpc"
    )
    q = load_questionnaire("sipas-2017")
    df, frame = synthetic(units * per_unit, units, seed=11)
    ours, ours_cpu, _, table = timed(lambda: score(q, df, frame), runs)
    print(f"   ours : {ours:8.3f} s median of {runs} (cpu {ours_cpu:.3f} s)")
    figures["against R: ours"] = [ours, ours_cpu]
    if shutil.which("Rscript") is None:
        print("   R    : Rscript not found, comparison skipped")
        return True
    with tempfile.TemporaryDirectory(prefix="sipas-bench-") as tmp:
        tmp_path = Path(tmp)
        df.to_csv(tmp_path / "responses.csv", index=False)
        frame.to_csv(tmp_path / "frame.csv", index=False)
        script = R_SCRIPT.format(
            fixtures=FIXTURES,
            responses=tmp_path / "responses.csv",
            frame=tmp_path / "frame.csv",
            out=tmp_path / "r.csv",
        )
        (tmp_path / "bench.R").write_text(script, encoding="utf-8")
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["Rscript", str(tmp_path / "bench.R")], capture_output=True, text=True, check=False
        )
        total = time.perf_counter() - t0
        if proc.returncode != 0:
            print("   R failed:", proc.stderr.strip().splitlines()[-1:] or proc.stderr)
            return False
        r_time = float(
            next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("R_ELAPSED"))
        )
        expected = pd.read_csv(tmp_path / "r.csv", dtype={"domain": str}).set_index("domain")
    print(f"   R    : {r_time:8.3f} s estimation ({total:.1f} s with start-up and reading the CSV)")
    print(f"   ours is {r_time / ours:,.0f}× faster")
    results = {u.unit: u for u in (*table.units, table.overall)}
    d_index = max(abs(results[k].index - row["index"]) for k, row in expected.iterrows())
    d_se = max(abs(results[k].se - row["se"]) / row["se"] for k, row in expected.iterrows())
    same = d_index <= 1e-9 and d_se <= 1e-6 and set(results) == set(expected.index)
    print(
        f"   identical estimates: {'yes' if same else 'NO'} "
        f"({len(expected)} domains; max |Δ index| = {d_index:.1e}, max relative Δ SE = {d_se:.1e})"
    )
    return same


def in_memory(n: int, units: int, runs: int, figures: dict[str, list[float]]) -> None:
    from analysis import score
    from questionnaires import load_questionnaire

    print(
        f"\n== 2. in memory: {n:,} responses × {len(ITEMS)} items across {units:,} units, "
        "with standard errors"
    )
    q = load_questionnaire("sipas-2017")
    t0 = time.perf_counter()
    df, frame = synthetic(n, units, seed=12)
    print(
        f"   data drawn in {time.perf_counter() - t0:.1f} s; "
        f"DataFrame {df.memory_usage(deep=True).sum() / 1e9:.2f} GB"
    )
    wall, cpu, walls, table = timed(lambda: score(q, df, frame), runs)
    print(
        f"   score: {wall:.2f} s median of {runs} "
        f"(runs {', '.join(f'{w:.2f}' for w in walls)}; cpu {cpu:.2f} s)"
    )
    print(f"   peak RSS of the process (data included): {peak_rss_gb():.2f} GB")
    figures["in memory"] = [wall, cpu]
    print(
        f"   overall index {table.overall.index:.4f} ± {table.overall.se:.4f}; "
        f"{len(table.units):,} units ranked"
    )


def end_to_end(n: int, units: int, runs: int, tree: Path, figures: dict[str, list[float]]) -> None:
    print(f"\n== 3. end to end: sipas score from Parquet, {n:,} responses, {units:,} units, frame, JSON out")
    with tempfile.TemporaryDirectory(prefix="sipas-bench-") as tmp:
        tmp_path = Path(tmp)
        df, frame = synthetic(n, units, seed=13, text_ids=True)
        df.to_parquet(tmp_path / "responses.parquet", index=False)
        frame.to_csv(tmp_path / "frame.csv", index=False)
        size = (tmp_path / "responses.parquet").stat().st_size / 1e6
        del df
        print(f"   responses.parquet {size:.0f} MB")
        # what the `sipas` console script runs, with the tree's packages first on the path
        command = [
            sys.executable, "-c", "from survey.cli import main; main()",
            "score", "-q", "sipas-2017",
            "-r", str(tmp_path / "responses.parquet"),
            "--frame", str(tmp_path / "frame.csv"),
            "--out", str(tmp_path / "out.json"),
        ]  # fmt: skip
        walls, peaks, cpus = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_tree_env(tree)
            )
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
            walls.append(time.perf_counter() - t0)
            peaks.append(usage.ru_maxrss / 1024**2)
            cpus.append(usage.ru_utime + usage.ru_stime)
            error = proc.stderr.read().decode() if proc.stderr else ""
            proc.stderr.close() if proc.stderr else None
            if os.waitstatus_to_exitcode(status) != 0:
                print("   sipas score failed:", error.strip())
                return
        out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        print(
            f"   sipas score: {statistics.median(walls):.2f} s median of {runs} "
            f"(runs {', '.join(f'{w:.2f}' for w in walls)}; cpu {statistics.median(cpus):.2f} s)"
        )
        print(f"   peak RSS of the command: {max(peaks):.2f} GB")
        figures["end to end"] = [statistics.median(walls), statistics.median(cpus)]
        print(f"   output {len(out['units']):,} units, overall index {out['overall']['index']:.4f}")


def _tree_env(tree: Path) -> dict[str, str]:
    """The environment of a child process that imports the packages of ``tree`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH", "")) if p)
    return env


def load() -> str:
    """The machine's load averages: on a shared machine they say how much the wall times include."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def compare(reference: Path, tree: Path, rounds: int, forwarded: list[str]) -> None:
    """Run the benchmark alternately on ``reference`` and on ``tree``; print medians and ratios."""
    trees = {"reference": reference.resolve(), "this tree": tree.resolve()}
    results: dict[str, dict[str, list[list[float]]]] = {label: {} for label in trees}
    with tempfile.TemporaryDirectory(prefix="sipas-bench-") as tmp:
        for round_ in range(1, rounds + 1):
            for label, tree in trees.items():
                print(f"\n#### round {round_}/{rounds}: {label} ({tree})", flush=True)
                out = Path(tmp) / "figures.json"
                command = [sys.executable, __file__, *forwarded, "--tree", str(tree), "--figures", str(out)]
                if subprocess.run(command, env=_tree_env(tree), check=False).returncode != 0:
                    sys.exit(f"the benchmark failed on {label} ({tree})")
                for name, figure in json.loads(out.read_text(encoding="utf-8")).items():
                    results[label].setdefault(name, []).append(figure)
    print(f"\n== medians of {rounds} rounds (wall / cpu, seconds); ratio = this tree / reference")
    for name, old_runs in results["reference"].items():
        new_runs = results["this tree"].get(name, [])
        old = [statistics.median(f[i] for f in old_runs) for i in (0, 1)]
        new = [statistics.median(f[i] for f in new_runs) if new_runs else math.nan for i in (0, 1)]
        print(
            f"   {name:16s} reference {old[0]:7.3f} / {old[1]:7.3f}   this tree {new[0]:7.3f} / {new[1]:7.3f}"
            f"   ratio {new[0] / old[0]:.3f} / {new[1] / old[1]:.3f}"
        )
        print(f"   {'':16s} walls per round: reference {_walls(old_runs)}; this tree {_walls(new_runs)}")


def _walls(runs: list[list[float]]) -> str:
    return ", ".join(f"{wall:.2f}" for wall, _ in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--skip-r", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--reference", type=Path, help="another checkout to compare this tree with")
    parser.add_argument("--rounds", type=int, default=3, help="with --reference: runs of each tree")
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="the checkout whose packages run (default: this one)"
    )
    parser.add_argument("--figures", type=Path, help=argparse.SUPPRESS)  # write the medians as JSON
    args = parser.parse_args()
    if args.reference is not None:
        forwarded = sys.argv[1:]
        for option in ("--reference", "--rounds", "--tree"):
            forwarded = _without_option(forwarded, option)
        compare(args.reference, args.tree, args.rounds, forwarded)
        return
    sys.path.insert(0, str(args.tree.resolve()))
    import analysis

    print(f"machine: {os.cpu_count()} cores; numpy {np.__version__}, pandas {pd.__version__}")
    print(f"packages: {Path(analysis.__file__).resolve().parent.parent}")
    r_units, n, units = (50, 100_000, 1_000) if args.quick else (1_000, 10_000_000, 10_000)
    ok = True
    figures: dict[str, list[float]] = {}
    if not args.skip_r:
        ok = against_r(r_units, 50, args.runs, figures)
        print(f"   ({load()})")
    if not args.skip_memory:
        in_memory(n, units, args.runs, figures)
        print(f"   ({load()})")
    if not args.skip_e2e:
        end_to_end(n, units, max(1, min(args.runs, 3)), args.tree.resolve(), figures)
        print(f"   ({load()})")
    if args.figures is not None:
        args.figures.write_text(json.dumps(figures), encoding="utf-8")
    sys.exit(0 if ok else 1)


def _without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and its value (as ``--option value`` or ``--option=value``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


if __name__ == "__main__":
    main()
