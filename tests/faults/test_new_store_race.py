"""Several CLI sweeps started at once on a SQLite file that does not exist yet: MLflow creates a new store by a schema
migration, which several processes must not run at the same time. Every sweep finishes, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.faults._sweeps import cli, read_sweeps, run_together, sweep_file, write_table

pytestmark = pytest.mark.slow

TRIALS = 2


@pytest.mark.parametrize("sweeps", [4])  # the issue found 3 of 4 dying; 8 is measured in the README
def test_sweeps_started_together_on_a_new_sqlite_file_all_finish(tmp_path: Path, sweeps: int) -> None:
    data = write_table(tmp_path)
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    (tmp_path / "new").mkdir()
    files = [sweep_file(tmp_path, f"s{i}", data=data, uri=uri, n_trials=TRIALS, seed=i) for i in range(sweeps)]

    exits = run_together([cli("run", str(f)) for f in files], cwd=tmp_path)

    for e in exits:
        assert e.code == 0, e.describe()
        assert "Traceback" not in e.stderr, e.describe()
    records = read_sweeps(uri)
    assert len(records) == sweeps, f"{sweeps} sweeps started, {len(records)} parent runs recorded"
    for r in records:
        assert r.status == "FINISHED", r
        assert len(r.children) == TRIALS, f"sweep {r.run_id}: {len(r.children)} child runs, not {TRIALS}"
        assert set(r.children.values()) == {"FINISHED"}, r
    client = MlflowClient(uri, uri)
    versions = client.search_model_versions("name = 'faults-model'")
    assert len(versions) == sweeps, "every sweep registered its best model"
    aliases = client.get_registered_model("faults-model").aliases  # one version per alias, by construction
    assert str(aliases.get("champion")) in {str(v.version) for v in versions}, f"no @champion: {aliases}"


def test_a_file_that_is_not_a_store_ends_in_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    data = write_table(tmp_path)
    store = tmp_path / "notes.db"
    store.write_text("these are my notes, not an MLflow store\n" * 100)
    file = sweep_file(tmp_path, "s", data=data, uri=f"sqlite:///{store}")

    (e,) = run_together([cli("run", str(file))], cwd=tmp_path)

    assert e.code == 2, e.describe()
    assert "Traceback" not in e.stderr, e.describe()
    error = [line for line in e.stderr.splitlines() if line.startswith("error:")]
    assert error, e.describe()
    assert str(store) in error[0], "the error names the store"
