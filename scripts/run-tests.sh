#!/usr/bin/env bash
# Run every test binary given, then print one closing line:
# "N passed, N failed, N skipped" (googletest's own counts, summed).
set -u
passed=0 failed=0 skipped=0 rc=0
for bin in "$@"; do
  xml=$(mktemp --suffix=.xml)
  "$bin" --gtest_output="xml:$xml" || rc=1
  if [ -s "$xml" ]; then
    read -r t f d < <(awk -F'"' '/<testsuites /{for(i=1;i<NF;i++){if($i~/ tests=$/)t=$(i+1);if($i~/ failures=$/)f=$(i+1);if($i~/ disabled=$/)d=$(i+1)}} END{print t+0, f+0, d+0}' "$xml")
    s=$(grep -c '<skipped' "$xml" || true)
    skipped=$((skipped + s)); failed=$((failed + f)); passed=$((passed + t - f - s - d))
  else
    echo "run-tests: $bin produced no results" >&2; rc=1; failed=$((failed + 1))
  fi
  rm -f "$xml"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
