#!/usr/bin/env bash
# Regenerate the README's option table from common/options.def (through the
# launcher, which prints the table); a test fails when the README is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
table=$("$here/build/hugeshim" options --markdown)
python3 - "$here/README.md" "$table" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "<!-- options:begin -->", "<!-- options:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:a] + "\n" + table + "\n" + text[b:])
PY
echo "README.md option table updated"
