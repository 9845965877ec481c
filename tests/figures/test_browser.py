"""A real browser on a real MLflow server: the figures a finished sweep logged are listed in the UI's artifact view of
its parent run and of its champion's run, they load in the browser (decoded images of non-zero size), and the link
sparksweep writes opens the experiment in the model-training view.

Headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) is driven by its own command line: ``--dump-dom``
after a virtual-time budget for what the page shows, with ``--screenshot`` in the same run for a person to look at
(saved in the test's tmp folder). Where no browser is found the test is skipped saying so, and fails when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from mlflow import MlflowClient

from sparksweep.executors import LocalExecutor
from sparksweep.figures import run_link
from tests.figures.conftest import FinishedSweep, finish, sweep_spec

pytestmark = pytest.mark.slow

_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,1000",
    "--virtual-time-budget=15000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found is None:
        why = "no Chromium on PATH: apt-get install -y chromium chromium-driver (what .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def sweep(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path, local_executor: LocalExecutor
) -> FinishedSweep:
    from sparksweep.datasets import generate_churn

    folder = tmp_path_factory.mktemp("browser")
    models = ["lightgbm", "sklearn.logistic_regression"]
    spec = sweep_spec(folder, generate_churn(500, seed=6), "label", models, store_template, search={"n_trials": 4})
    return finish(spec, local_executor)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(sweep: FinishedSweep, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 over the sweep's store (one worker), stopped at the end."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "mlflow-server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", sweep.uri]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _open(chromium: str, url: str, folder: Path, name: str, *, screenshot: bool = True) -> str:
    """The page's DOM once it has rendered, with a screenshot ``<name>.png`` in ``folder`` taken by the same run (one
    browser start for both); a fresh profile each time (no saved view choice)."""
    profile = folder / f"profile-{name}"
    extra = [f"--screenshot={folder / f'{name}.png'}"] if screenshot else []
    done = subprocess.run(
        [chromium, *_FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shutil.rmtree(profile, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {done.stderr[-2000:]}")
    if screenshot and not (folder / f"{name}.png").exists():
        raise RuntimeError(f"chromium took no screenshot of {url}: {done.stderr[-2000:]}")
    (folder / f"{name}.html").write_text(done.stdout)
    return done.stdout


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    out: list[str] = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


def _artifact_page(server: str, experiment_id: str, run_id: str, path: str) -> str:
    return run_link(experiment_id, f"{run_id}/artifacts/{path}", server)


def _champion_run(sweep: FinishedSweep) -> str:
    champion = sweep.result.champion
    assert champion is not None
    return str(MlflowClient(sweep.uri).get_model_version(champion.name, champion.version).run_id)


def test_the_experiment_opens_in_the_model_training_view(
    chromium: str, server: str, sweep: FinishedSweep, tmp_path: Path
) -> None:
    dom = _open(chromium, run_link(sweep.result.experiment_id, tracking_uri=server), tmp_path, "experiment")
    # Model training: the runs table with the sweep's parent run; GenAI would show its overview, judges, prompts.
    run_name = MlflowClient(sweep.uri).get_run(sweep.result.sweep_run_id).info.run_name
    assert run_name[:12] in dom
    assert "Model registry" in dom
    assert "Judges" not in dom
    assert "Evaluation runs" not in dom


@pytest.mark.parametrize("whose", ["parent", "champion"])
def test_the_figures_are_listed_in_the_run_s_artifacts_and_load_in_the_browser(
    whose: str, chromium: str, server: str, sweep: FinishedSweep, tmp_path: Path
) -> None:
    client = MlflowClient(sweep.uri)
    run_id = sweep.result.sweep_run_id if whose == "parent" else _champion_run(sweep)
    figures = [a for a in _artifacts(client, run_id) if a.startswith("figures/") and a.endswith(".png")]
    assert len(figures) >= 6
    first = figures[0]
    dom = _open(chromium, _artifact_page(server, sweep.result.experiment_id, run_id, first), tmp_path, whose)
    for figure in figures:  # every figure is a node of the artifact tree
        assert f'artifact-name="{Path(figure).name}"' in dom, figure
    # The UI fetched the selected figure and shows it as an image.
    assert f'<img alt="{first}" src="blob:{server}/' in dom
    # Every figure, fetched from the server by the browser, decodes to an image of non-zero size.
    sources = [f"{server}/get-artifact?path={quote(f, safe='')}&run_uuid={run_id}" for f in figures]
    probe = tmp_path / f"probe-{whose}.html"
    probe.write_text(
        "<html><body><pre id='sizes'></pre>"
        + "".join(f"<img src='{s}'>" for s in sources)
        + "<script>window.addEventListener('load', () => { document.getElementById('sizes').textContent = "
        "JSON.stringify([...document.images].map(i => [i.naturalWidth, i.naturalHeight])); });</script>"
        "</body></html>"
    )
    probed = _open(chromium, probe.as_uri(), tmp_path, f"probe-{whose}", screenshot=False)
    sizes = json.loads(probed.split('<pre id="sizes">', 1)[1].split("</pre>", 1)[0])
    assert len(sizes) == len(figures)
    assert all(w > 0 and h > 0 for w, h in sizes), dict(zip(figures, sizes, strict=True))


def test_report_html_opens_on_its_own_with_every_figure_shown(
    chromium: str, sweep: FinishedSweep, tmp_path: Path
) -> None:
    page = Path(MlflowClient(sweep.uri).download_artifacts(sweep.result.sweep_run_id, "report.html", str(tmp_path)))
    probe = tmp_path / "report-probe.html"
    probe.write_text(
        page.read_text().replace(
            "</body>",
            "<pre id='sizes'></pre><script>window.addEventListener('load', () => { "
            "document.getElementById('sizes').textContent = "
            "JSON.stringify([...document.images].map(i => i.naturalWidth)); });</script></body>",
        )
    )
    _open(chromium, page.as_uri(), tmp_path, "report")
    dom = _open(chromium, probe.as_uri(), tmp_path, "report-probe", screenshot=False)
    widths = json.loads(dom.split('<pre id="sizes">', 1)[1].split("</pre>", 1)[0])
    assert len(widths) >= 11
    assert all(w > 0 for w in widths)
    assert "Champion decision" in dom
