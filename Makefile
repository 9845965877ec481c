# sparksweep: `make demo` runs a real sweep end to end; `make test` runs lint, types and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

CLUSTER_DIR ?= .sparksweep-cluster

.PHONY: venv demo test lint typecheck pytest bench bench-env clean cluster-up cluster-status cluster-down cluster-demo

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
	$(BIN)/lint-imports --no-logo  # the layers (pyproject.toml [tool.importlinter])

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# The benchmark peers that cannot share sparksweep's environment (FLAML 2.7 needs xgboost < 3), in $(BENCH_VENV).
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

# `make bench` runs every benchmarks/bench_*.py (new scripts too), one after another, with the arguments below that keep
# the whole run under 30 minutes on a 2-core machine (a script not listed runs with its defaults). Each script's
# own defaults are the full measurement. Run it under the heavy lock on a shared machine:
# `flock /tmp/sparksweep-heavy.lock make bench`.
BENCH_ARGS_bench_algorithms := --rows 3000 --n-trials 6
BENCH_ARGS_bench_autolog := --rows 5000 --repeats 1
BENCH_ARGS_bench_cluster := --trials 8 --rows 2000
BENCH_ARGS_bench_data_cost := --rows 200000 --trials 3
BENCH_ARGS_bench_families := --rows 20000 --trials 2
BENCH_ARGS_bench_pruning := --rows 5000 --n-trials 8
BENCH_ARGS_bench_scoring := --rows 200000 --repeats 1
BENCH_ARGS_bench_throughput := --n-sleep 10 --n-trivial 40 --n-lgbm 10
BENCH_ARGS_bench_search_quality := --quick
BENCH_ARGS_bench_scaling := --sizes 100 1000
BENCH_ARGS_bench_first_trial := --repeats 1 --timeout 20
BENCH_ARGS_bench_soak := --trials 400
BENCH_ARGS_bench_figures := --n-trials 200
BENCH_SCRIPTS = $(sort $(wildcard benchmarks/bench_*.py))
bench_args = $(BENCH_ARGS_$(basename $(notdir $(1))))

bench: $(STAMP) $(BENCH_STAMP)
	@start=$$(date +%s); failed=""; \
	$(foreach script,$(BENCH_SCRIPTS),echo "== $(script) $(call bench_args,$(script))"; \
		t0=$$(date +%s); $(BIN)/python $(script) $(call bench_args,$(script)) || failed="$$failed $(script)"; \
		echo "== $(script): $$(( $$(date +%s) - t0 )) s"; ) \
	echo "make bench: $$(( $$(date +%s) - start )) s in all"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

$(BENCH_STAMP): benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-peers.txt
	touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

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
	rm -rf $(VENV) $(BENCH_VENV) mlflow.db mlruns mlartifacts spark-warehouse data .pytest_cache .mypy_cache .ruff_cache
