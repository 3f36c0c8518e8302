#!/usr/bin/env bash
# The configuration reference in docs/ is the key table's own output.
set -euo pipefail
bin=$1 doc=$2
diff <("$bin" --config-reference) <(sed -n '/^| key |/,$p' "$doc") || {
  echo "docs/configuration.md is out of date: regenerate it from bpjs-syncd --config-reference" >&2
  exit 1
}
echo "1 passed, 0 failed"
