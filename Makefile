# Makefile - the README's two commands (`make demo`, `make test`) and their parts.
# The real build is Meson + Ninja; this file only installs packages and calls them.
PYTHON      := /usr/bin/python3
BUILD       := build
TEST_BUILD  := build-test
FUZZ_BUILD  := build-fuzz
BENCH_BUILD := build-bench
FUZZ_RUNS   ?= 200000
FUZZ_SECONDS ?= 20
export ASAN_OPTIONS  := abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1

.PHONY: all deps build test-build fuzz-build bench-build bench demo test unit fuzz integration clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=debugoptimized
	ninja -C $(BUILD)

# The test build runs everything under AddressSanitizer and UndefinedBehaviorSanitizer.
test-build: deps
	@test -f $(TEST_BUILD)/build.ninja || meson setup $(TEST_BUILD) --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(TEST_BUILD)

fuzz-build: deps
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) \
		--buildtype=debug -Dfuzz=true -Db_lundef=false
	ninja -C $(FUZZ_BUILD)

unit: test-build
	meson test -C $(TEST_BUILD) --suite unit --print-errorlogs

fuzz: fuzz-build
	scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_RUNS) $(FUZZ_SECONDS)

integration: test-build
	RELAYGUARD=$(CURDIR)/$(TEST_BUILD)/relayguard RELAYGUARD_BUILD=$(CURDIR)/$(TEST_BUILD) \
		$(PYTHON) -m pytest -p no:cacheprovider tests/integration

# The optimised build comes first: -O2 finds warnings (-Werror) that -O0 does not.
# The last line printed is pytest's summary.
test: build unit fuzz integration

demo: build
	$(PYTHON) scripts/demo.py --relayguard $(CURDIR)/$(BUILD)/relayguard

# Benchmarks measure the optimised build: release, no sanitizers.
bench-build: deps
	@test -f $(BENCH_BUILD)/build.ninja || meson setup $(BENCH_BUILD) --buildtype=release
	ninja -C $(BENCH_BUILD) relayguard bench/fake_targets

# Every executable script in bench/ (each ends with its RESULT line); stops at the first failure.
bench: bench-build
	@for script in bench/*; do \
		test -f "$$script" && test -x "$$script" || continue; \
		echo "== $$script"; \
		RELAYGUARD=$(CURDIR)/$(BENCH_BUILD)/relayguard \
		FAKE_TARGETS=$(CURDIR)/$(BENCH_BUILD)/bench/fake_targets "$$script" || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD)
