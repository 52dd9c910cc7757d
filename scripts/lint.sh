#!/usr/bin/env bash
# make lint: the layering (scripts/lint-layers.py: no include of a later
# layer, no include cycle between modules) and cppcheck's warning and
# portability checks over the library and the launcher, with zero findings.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
rc=0
python3 scripts/lint-layers.py . || rc=1
if ! command -v cppcheck >/dev/null; then
  echo "lint: cppcheck is missing (scripts/deps.sh test installs it)" >&2
  exit 1
fi
# -D__GNUC__: the code's GCC builtins and attributes are what it is built with.
cppcheck -q --std=c11 --enable=warning,portability --inline-suppr --error-exitcode=1 \
  -D__GNUC__ -D__x86_64__ -DHS_VERSION='"lint"' -I os -I common \
  os common allocator track place observe shim tools || rc=1
[ $rc = 0 ] && echo "lint: layers and cppcheck clean"
exit $rc
