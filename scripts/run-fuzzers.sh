#!/bin/sh
# run-fuzzers.sh - run every libFuzzer harness of a fuzz build for a bounded number of inputs.
# Usage: run-fuzzers.sh BUILD_DIR RUNS [SECONDS]: each harness stops at RUNS inputs or SECONDS,
# whichever comes first. Seeds come from tests/fuzz/corpus/NAME/ when present.
set -eu
build=$1
runs=${2:-200000}
seconds=${3:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for harness in "$build"/tests/fuzz/fuzz_*; do
	[ -f "$harness" ] && [ -x "$harness" ] || continue
	name=$(basename "$harness")
	work=$(mktemp -d)
	if [ -d "$root/tests/fuzz/corpus/$name" ]; then
		cp "$root/tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
	fi
	if "$harness" -runs="$runs" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
	    "$work" >"$work.log" 2>&1; then
		done_runs=$(grep -o 'Done [0-9]* runs' "$work.log" | tail -1 | cut -d' ' -f2)
		echo "fuzz: $name ok (${done_runs:-$runs} runs)"
	else
		echo "fuzz: $name FAILED, log follows" >&2
		tail -50 "$work.log" >&2
		status=1
	fi
	rm -rf "$work" "$work.log"
done
exit $status
