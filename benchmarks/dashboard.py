"""Benchmark the results dashboard: the first view of a campaign (read, score, draw) against the views
that follow while nothing changes (the cache per data version), the ranking figure (drawn once per
version), and the data-version check itself.

    .venv/bin/python benchmarks/dashboard.py                       # 16 communes × 300 forms
    .venv/bin/python benchmarks/dashboard.py --per-unit 2000 --views 20

A demo campaign (``sipas demo``'s synthetic forms) is made in a temporary SQLite database before the
clock starts. Goal: a repeated view ≤ 0.1 s whatever the campaign's size (it is one small query).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-unit", type=int, default=300, help="synthetic forms per commune")
    parser.add_argument("--views", type=int, default=10, help="repeated views to time")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from survey import create_app
    from survey.db import session_scope, upgrade
    from survey.demo import set_up_demo
    from survey.models import User
    from survey.results import data_version

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite"
        upgrade(url)
        app = create_app(
            {"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "benchmark-secret", "INSTANCE_PATH": folder}
        )
        with app.app_context(), session_scope(app) as session:
            setup = set_up_demo(
                session, instance_path=folder, base_url="http://127.0.0.1", sample_responses=args.per_unit
            )
            user_id = session.query(User).filter_by(username="admin").one().id
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["user_id"] = user_id
        page = f"/admin/campaigns/{setup.campaign_id}/results"
        start = time.perf_counter()
        assert client.get(page).status_code == 200
        first = time.perf_counter() - start
        again = []
        for _ in range(args.views):
            start = time.perf_counter()
            assert client.get(page).status_code == 200
            again.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert client.get(f"{page}/figures/ranking.svg").status_code == 200
        figure = time.perf_counter() - start
        start = time.perf_counter()
        assert client.get(f"{page}/figures/ranking.svg").status_code == 200
        figure_again = time.perf_counter() - start
        engine = app.extensions["sipas.engine"]
        checks = []
        for _ in range(args.views):
            start = time.perf_counter()
            data_version(engine, setup.campaign_id)
            checks.append(time.perf_counter() - start)
        engine.dispose()
    print(f"forms: {setup.responses_total} ({args.per_unit} a commune, two thin communes)")
    print(f"first view (read, score): {first:.2f} s")
    print(f"ranking figure (SVG): first {figure:.2f} s, then {figure_again:.3f} s")
    print(f"repeated view, median of {args.views}: {statistics.median(again):.3f} s")
    print(f"data-version check, median of {args.views}: {statistics.median(checks) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
