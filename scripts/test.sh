#!/usr/bin/env bash
# The full test suite: set up, then `swift test`. Tests that need ../shared/data skip without it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEADLAB_ROOT"
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
