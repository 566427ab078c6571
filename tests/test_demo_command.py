"""`healthbot demo`, the README's first command, run as a real process in an empty folder."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_seeds_scores_and_prints_what_slack_would_get(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--accounts", "120"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout

    tiers = dict(re.findall(r"^  (Healthy|Low risk|Medium risk|High risk) +(\d+) ", out, re.M))
    assert set(tiers) == {"Healthy", "Low risk", "Medium risk", "High risk"}
    con = sqlite3.connect(tmp_path / "healthbot-demo.db")
    latest = con.execute("SELECT MAX(day) FROM health_score").fetchone()[0]
    stored = dict(con.execute("SELECT tier, COUNT(*) FROM health_score WHERE day = ? GROUP BY tier", (latest,)))
    days = con.execute("SELECT COUNT(DISTINCT day) FROM health_score").fetchone()[0]
    con.close()
    labels = {"healthy": "Healthy", "low_risk": "Low risk", "medium_risk": "Medium risk", "high_risk": "High risk"}
    assert {labels[t]: str(n) for t, n in stored.items()} == {k: v for k, v in tiers.items() if v != "0"}
    assert days == 90  # the span of the card's sparkline
    assert f"Health on {latest}" in out

    auc = float(re.search(r"ROC AUC (\d\.\d+)", out).group(1))  # type: ignore[union-attr]
    assert auc > 0.7  # the demo's churn is foreshadowed and the default scorecard sees it
    assert "#customer-health ── " in out and "What pulls the score down" in out
    assert (tmp_path / "demo-data" / "accounts.csv").exists() and (tmp_path / "demo-data" / "metrics.csv").exists()
