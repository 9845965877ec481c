"""`sparksweep run --dry-run FILE`: the kind chosen for each column and why, and no trial run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from click.testing import CliRunner

from sparksweep.cli import main
from sparksweep.datasets import generate_churn


def test_dry_run_prints_each_columns_kind_and_runs_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = generate_churn(300).assign(
        plan=rng.choice(["free", "pro"], 300),
        email=[f"u{i}@x.org" for i in range(300)],
        on=rng.random(300) > 0.5,
        signup=(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, 300), unit="D")).strftime("%Y-%m-%d"),
    )
    df.to_csv(tmp_path / "users.csv", index=False)  # a csv file brings its dates as text
    store = tmp_path / "mlflow.db"
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "experiment": "dry",
                "data": {
                    "path": str(tmp_path / "users.csv"),
                    "target": "label",
                    "drop": ["user_id", "feature_date"],
                },
                "models": ["lightgbm"],
                "search": {"n_trials": 2, "executor": "local"},
                "tracking": {"uri": f"sqlite:///{store}"},
            }
        )
    )
    out = CliRunner().invoke(main, ["run", "--dry-run", str(sweep_file)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"Data from {tmp_path / 'users.csv'}: 300 rows, task binary"
    rows = {line.split()[0]: line.split(maxsplit=3)[1:] for line in lines[2:] if line.startswith("  ")}
    assert rows["plan"][:2] == ["categorical", "str"]
    assert rows["on"][0] == "numeric"
    assert rows["signup"][:2] == ["date", "str"]
    assert "text, every value an ISO 8601 date (e.g. '2024-" in out.output
    assert "year, month, day of week, day of year, days since the earliest" in out.output
    assert rows["user_id"][0] == "left"
    assert rows["email"][0] == "left"
    assert "mostly unique values (300 distinct in 300 rows)" in out.output
    assert "Split: 192 train, 48 valid, 60 test rows" in out.output
    assert "Warning: column 'email' is left out of the features" in out.output
    assert not store.exists(), "no run was recorded"
