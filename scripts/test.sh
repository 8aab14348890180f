#!/usr/bin/env bash
# The full test suite: set up, then `swift test`. Tests that need ../shared/data skip without it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEADLAB_ROOT"
bash scripts/setup.sh
swift build --build-tests
# XCTest only (no Swift Testing suites exist; its "0 tests" summary would be the last line).
set +e
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee .build/test.log
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E "Executed [0-9]+ tests?, with" .build/test.log | tail -1)
if [ -z "$summary" ]; then echo "headlab: 0 passed, 1 failed (the test run crashed)"; exit 1; fi
passed=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
skipped=$(echo "$summary" | grep -oE '[0-9]+ tests? skipped' | grep -oE '^[0-9]+' || echo 0)
echo "headlab: $((passed - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
