# Every target that needs the environment depends on .venv/.installed, so on a fresh clone
# `make sweep` and `make test` each work as the first command.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SWEEP ?= hnet
ARGS ?=
# Test workers: most tests wait on a subprocess of one thread, so two workers keep both cores busy.
TEST_JOBS ?= 2
# The study folder a sweep writes to, <paths.log_dir>/<study>, read from the sweep's own config. Sweep-style
# arguments (seed=1,2, glob(...), range(...)) are left out: a single-run --cfg would refuse them.
STUDY_ARGS = $$(for a in $(ARGS); do case "$$a" in *,*|*'('*) ;; *) printf '%s ' "$$a";; esac; done)
STUDY_DIR = $$($(BIN)/python train.py sweep=$(SWEEP) $(STUDY_ARGS) --cfg job -p paths.log_dir | tail -1)/$$($(BIN)/python train.py sweep=$(SWEEP) $(STUDY_ARGS) --cfg job -p study | tail -1)

.PHONY: install test lint format train sweep report dashboard bench bench-smoke clean sync sweep-slurm

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing ablab and its dependencies into $(VENV) (about 2.5 min and 2.2 GB the first time; log: $(VENV)/install.log)"
	@$(BIN)/pip install --disable-pip-version-check -e '.[dev,ray]' >$(VENV)/install.log 2>&1 || { \
		tail -n 20 $(VENV)/install.log >&2; echo "error: pip install failed; the whole log: $(VENV)/install.log" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadgroup $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks train.py
	$(BIN)/ruff format --check src tests benchmarks train.py

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks train.py
	$(BIN)/ruff check --fix src tests benchmarks train.py

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

# Runs the study `conf/sweep/$(SWEEP).yaml`, then reports on the folder that sweep wrote (the sweep names
# it in ABLAB_SWEEP_RESULT once it has run), even when some runs failed: the report shows them. A sweep
# that stopped before running (a bad override, say) gets no report. The target fails if the sweep did.
sweep: $(STAMP)
	@result=$$(mktemp); status=0; \
	ABLAB_SWEEP_RESULT=$$result $(BIN)/python train.py -m sweep=$(SWEEP) $(ARGS) || status=$$?; \
	dir=$$(cat $$result); rm -f $$result; \
	if [ -z "$$dir" ]; then echo "error: the sweep stopped before it ran (see above): no report" >&2; exit $$((status ? status : 1)); fi; \
	$(BIN)/ablab-report "$$dir" || status=$$((status ? status : $$?)); \
	exit $$status

# The same study on SLURM, one job per run: `make sweep-slurm SWEEP=hnet PARTITION=gpu [ACCOUNT=lab]
# [ARGS=...]`. Other cluster values come from conf/local/slurm.yaml or ARGS (docs/slurm.md).
PARTITION ?=
ACCOUNT ?=
sweep-slurm: $(STAMP)
	@result=$$(mktemp); status=0; \
	ABLAB_SWEEP_RESULT=$$result $(BIN)/python train.py -m sweep=$(SWEEP) hydra/launcher=slurm \
		$(if $(PARTITION),hydra.launcher.partition=$(PARTITION)) $(if $(ACCOUNT),hydra.launcher.account=$(ACCOUNT)) \
		$(ARGS) || status=$$?; \
	dir=$$(cat $$result); rm -f $$result; \
	if [ -z "$$dir" ]; then echo "error: the sweep stopped before it ran (see above): no report" >&2; exit $$((status ? status : 1)); fi; \
	$(BIN)/ablab-report "$$dir" || status=$$((status ? status : $$?)); exit $$status

# Reports on REPORT_DIR if given, else on the study of SWEEP.
report: $(STAMP)
	$(BIN)/ablab-report "$${REPORT_DIR:-$(STUDY_DIR)}"

# A W&B workspace for the study STUDY (a study folder; default: the study of SWEEP): the specification in
# <study>/report/wandb_workspace.json, or saved on the W&B server with ONLINE=1 (after `wandb login`).
STUDY ?=
ONLINE ?=
dashboard: $(STAMP)
	$(BIN)/ablab-dashboard "$${STUDY:-$(STUDY_DIR)}" $(if $(ONLINE),--online)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# Every benchmark at a tiny size: they run and print a verdict each (minutes; not in make test or CI).
bench-smoke: $(STAMP)
	ABLAB_BENCH_SMOKE_TEST=1 $(BIN)/pytest -q -p no:cacheprovider tests/test_benchmarks.py

# Uploads the offline W&B runs under SYNC_DIR (default logs/; runs set aside under previous/ are left
# out) with `wandb sync`, which skips runs it has already synced. Needs `wandb login` once (or
# WANDB_API_KEY). `make sync SYNC_ARGS=--dry-run` lists what would be uploaded.
SYNC_DIR ?= logs
SYNC_ARGS ?=
sync: $(STAMP)
	@runs=$$(find $(SYNC_DIR) -name previous -prune -o -type d -name 'offline-run-*' -print -prune 2>/dev/null | sort); \
	if [ -z "$$runs" ]; then echo "no offline W&B runs under $(SYNC_DIR)"; exit 0; fi; \
	$(BIN)/wandb sync $(SYNC_ARGS) $$runs

clean:
	rm -rf .pytest_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
