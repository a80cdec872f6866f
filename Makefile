# Two commands for a new user: `make run` (the pipeline on the bundled sample) and `make test`.
# Both create or reuse .venv and install the project from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed

# The JVM's class-data-sharing archive for local Spark runs (stedi/jvm_archive.py): built once per
# environment, about a minute; it halves Spark's start-up. Runs work without it, only slower.
ARCHIVE_STAMP := $(VENV)/.jvm-archive

# checkov has pins of its own (boto3, pydantic, ...): it lives in a venv beside the project's.
VENV_INFRA := .venv-infra
STAMP_INFRA := $(VENV_INFRA)/.installed
CHECKOV := checkov==3.3.30

VENV35 := .venv-spark35
STAMP35 := $(VENV35)/.installed

.PHONY: run test test-spark lint lint-infra test-spark35 bench bench-scale bench-incremental clean check-prereqs

run: $(STAMP) $(ARCHIVE_STAMP)
	$(VENV)/bin/stedi run $(ARGS)

test: $(STAMP) $(ARCHIVE_STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# ruff's lint and format check, and the layers contract in pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# infra/ without an AWS account: terraform's formatting (where terraform is installed) and checkov's scan.
# tests/infra (in `make test`) holds the HCL and the code together; `terraform validate` needs providers.
lint-infra: $(STAMP_INFRA)
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive infra && echo "terraform fmt: infra/ is formatted"; \
	  else echo "terraform is not on PATH: terraform fmt -check skipped (checkov and tests/infra still run)"; fi
	$(VENV_INFRA)/bin/checkov --directory infra --framework terraform --skip-download --compact --quiet

$(STAMP_INFRA): | check-prereqs
	test -x $(VENV_INFRA)/bin/python || $(PYTHON) -m venv $(VENV_INFRA)
	$(VENV_INFRA)/bin/python -m pip install --quiet "$(CHECKOV)"
	touch $(STAMP_INFRA)

# The tests whose code runs in Spark (the `spark` fixture): transforms, jobs, contracts, the lake's and the
# landing's readers, the pseudonym key's use in a job.
SPARK_TESTS := tests/stedi/transforms tests/stedi/jobs tests/schemas tests/stedi/test_lake.py \
	tests/stedi/test_landing.py tests/stedi/test_secrets.py tests/stedi/test_spark.py

# The Spark tests, and the sample's integration, once more on the spark engine (Apache Spark in a local JVM),
# the reference the default engine is held to: `make test` runs them on the default engine.
test-spark: $(STAMP) $(ARCHIVE_STAMP)
	STEDI_ENGINE=spark $(VENV)/bin/pytest $(PYTEST_ARGS) $(SPARK_TESTS) tests/flows/test_stedi_run_sample.py

# The Spark tests once more on pyspark 3.5, the AWS Glue 5.0 runtime, so nothing Spark-4-only slips in
# (the tests that run no Spark code would only repeat `make test`).
test-spark35: $(STAMP35)
	STEDI_ENGINE=spark $(VENV35)/bin/pytest -q -m "not integration" $(SPARK_TESTS)

bench: $(STAMP) $(ARCHIVE_STAMP)
	$(VENV)/bin/python bench/bench_run.py

# 10 and 100 copies of the sample: `stedi run` on each engine beside ../shared/bench's references.
bench-scale: $(STAMP) $(ARCHIVE_STAMP)
	$(VENV)/bin/python bench/bench_scale.py $(ARGS)

# A full run, a run with nothing new and a run with 1% new files, on a generated landing 100 times the sample.
bench-incremental: $(STAMP) $(ARCHIVE_STAMP)
	$(VENV)/bin/python bench/bench_incremental.py $(ARGS)

check-prereqs:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: Python 3.11 or newer is required (found: $$($(PYTHON) --version 2>&1)); install python3.11" >&2; exit 1; }
	@command -v java >/dev/null 2>&1 || \
	  echo "note: 'java' is not on PATH. The default engine (sail) needs none; --engine spark, make test and make test-spark35 need Java 17: install OpenJDK 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) or set JAVA_HOME" >&2

$(STAMP): pyproject.toml | check-prereqs
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(ARCHIVE_STAMP): $(STAMP)
	if command -v java >/dev/null 2>&1 || test -n "$$JAVA_HOME"; then $(VENV)/bin/python -m stedi.jvm_archive; \
	  else echo "no Java: the JVM class archive (for --engine spark) is left out"; fi
	touch $(ARCHIVE_STAMP)

# Glue 5.0's own Spark, 3.5.4 (deployments/glue.py: GLUE_VERSION). Its connect extra holds numpy below 2,
# as Glue's runtime does; with numpy 2, pip fell back to pyspark 3.5.1, whose pandas API (which
# pyspark.testing and pandera import) uses np.NaN and fails to import. pyarrow 26 needs numpy 2 at import
# time without saying so to pip: 25 is the last that imports beside numpy 1.26.
PYSPARK35 := pyspark==3.5.4

$(STAMP35): pyproject.toml Makefile | check-prereqs
	test -x $(VENV35)/bin/python || $(PYTHON) -m venv $(VENV35)
	$(VENV35)/bin/python -m pip install --quiet --upgrade pip
	$(VENV35)/bin/python -m pip install --quiet -e ".[dev]" "$(PYSPARK35)" "pyarrow<26"
	$(VENV35)/bin/python -c "import pyspark; assert pyspark.__version__ == '$(PYSPARK35)'.split('==')[1], pyspark.__version__"
	touch $(STAMP35)

clean:
	rm -rf lake warehouse .pytest_cache
