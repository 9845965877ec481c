# sparksweep: `make demo` runs a real sweep end to end; `make test` runs lint, types and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

CLUSTER_DIR ?= .sparksweep-cluster

.PHONY: venv demo test lint typecheck pytest bench clean cluster-up cluster-status cluster-down cluster-demo

$(STAMP): pyproject.toml
	@command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || { \
		echo "Java 17 or 21 is required by Spark: apt-get install openjdk-17-jre-headless (or brew install openjdk@17)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/sparksweep demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# A Spark standalone cluster (one master, two workers) and an MLflow server on 127.0.0.1, state in $(CLUSTER_DIR).
cluster-up: $(STAMP)
	$(BIN)/python scripts/local_cluster.py up --dir $(CLUSTER_DIR)

cluster-status: $(STAMP)
	$(BIN)/python scripts/local_cluster.py status --dir $(CLUSTER_DIR)

cluster-down: $(STAMP)
	$(BIN)/python scripts/local_cluster.py down --dir $(CLUSTER_DIR)

# The demo's sweep and scoring on the running cluster, tracked by its server (start it with `make cluster-up`).
cluster-demo: $(STAMP)
	@test -f data/user_features.parquet || $(BIN)/python -c "from pathlib import Path; \
		from sparksweep.datasets import generate_churn; Path('data').mkdir(exist_ok=True); \
		generate_churn(20000).to_parquet('data/user_features.parquet', index=False)"
	eval "$$($(BIN)/python scripts/local_cluster.py env --dir $(CLUSTER_DIR))" && \
	$(BIN)/sparksweep run examples/churn.yaml --n-trials 8 --spark-master "$$SPARK_MASTER" \
		--tracking-uri "$$MLFLOW_TRACKING_URI" && \
	$(BIN)/sparksweep score --model models:/churn-prediction-model@champion --input data/user_features.parquet \
		--output data/churn_predictions_cluster.parquet --keep user_id --spark-master "$$SPARK_MASTER" \
		--tracking-uri "$$MLFLOW_TRACKING_URI"

clean:
	rm -rf $(VENV) mlflow.db mlruns mlartifacts spark-warehouse data .pytest_cache .mypy_cache .ruff_cache
