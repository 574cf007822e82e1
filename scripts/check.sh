#!/usr/bin/env bash
# `make check`: install what the tests need, build, run the unit tests and the
# end-to-end compat tests, and end with one `N passed, N failed` line.
set -u
cd "$(dirname "$0")/.."
export PATH="/usr/bin:/usr/sbin:$PATH"   # Debian's python3 (with libnbd) first
export CARGO_TERM_COLOR=never

bash scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0
log=$(mktemp)

# C nbdkit 1.44.1 with its plugins and filters, the second reference of
# the compat tests, is built once outside the repository (about five
# minutes) when its build script is beside the project; without it those
# comparisons skip, saying so.
build144=${NBDKIT144_BUILD:-../shared/nbdkit-1.44/build.sh}
if [ ! -x /var/tmp/nbdkit-1.44.1/server/nbdkit.c-1.44.1 ] && [ -f "$build144" ]; then
  echo "== building C nbdkit 1.44.1 (the second reference)"
  bash "$build144" >"$log" 2>&1 || { tail -20 "$log"; echo "C nbdkit 1.44.1 did not build: its comparisons will skip"; }
fi

echo "== build"
if ! make build >"$log" 2>&1; then
  tail -50 "$log"; echo "0 passed, 1 failed"; exit 1
fi

echo "== clippy (warnings are errors)"
# clippy ships with the rustup toolchain; the crate itself denies unsafe code
# outside abi/ and sys/ and warns on unsafe blocks without a SAFETY comment.
if cargo clippy --release --all-targets -- -D warnings >"$log" 2>&1; then
  passed=$((passed + 1))
else
  grep -E '^(warning|error)' -A6 "$log" | head -60; failed=$((failed + 1))
fi

echo "== cargo test"
cargo test --release 2>&1 | tee "$log" | grep -E '^(test |test result|failures|---- )' | grep -v ' ok$' || true
while read -r p f; do
  passed=$((passed + p)); failed=$((failed + f))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
if ! grep -q '^test result' "$log"; then
  tail -40 "$log"; failed=$((failed + 1))
fi

echo "== no module cycles"
if python3 scripts/module-cycles.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== no function over 120 lines"
if python3 scripts/long-functions.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

if [ -x scripts/bindings-check.sh ]; then
  echo "== bindings up to date"
  if bash scripts/bindings-check.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

if [ -x scripts/cbindgen-check.sh ]; then
  echo "== exported functions match include/ (cbindgen)"
  if bash scripts/cbindgen-check.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "== fuzz (a short run of every target; make fuzz runs longer)"
# Each target counts as one test; known crashes (fuzz/regressions) replay first.
fuzz_out=$(bash fuzz/run "${FUZZ_SECONDS:-5}" 2>&1)
echo "$fuzz_out" | grep -E '^fuzz:|panicked|SUMMARY' || echo "$fuzz_out" | tail -20
passed=$((passed + $(echo "$fuzz_out" | grep -c '^fuzz: .* executions in')))
failed=$((failed + $(echo "$fuzz_out" | grep -c -E '^fuzz: .*(FAILED|fails again)')))
if ! echo "$fuzz_out" | grep -q '^fuzz: '; then failed=$((failed + 1)); fi

echo "== compat tests"
bash compat-tests/run | tee "$log"
read -r p f < <(sed -n 's/^compat: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$log" | tail -1)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))

rm -f "$log"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
