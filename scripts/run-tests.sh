#!/usr/bin/env bash
# Run every test set given and print one closing line with googletest's own
# counts summed: "N passed, N failed, N skipped".
#   scripts/run-tests.sh BINARY... [--numalab NODES[+FAR]]...
# A test binary runs here; --numalab NODES runs the NUMA set in the NUMA lab
# with that many nodes.  A lab that cannot run here counts as one skipped set
# (never as passed); one that fails to report counts as one failure.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0 skipped=0 rc=0

count_xml() { # FILE
  local t f d s
  read -r t f d < <(awk -F'"' '/<testsuites /{for(i=1;i<NF;i++){if($i~/ tests=$/)t=$(i+1);if($i~/ failures=$/)f=$(i+1);if($i~/ disabled=$/)d=$(i+1)}} END{print t+0, f+0, d+0}' "$1")
  s=$(grep -c '<skipped' "$1" || true)
  skipped=$((skipped + s)); failed=$((failed + f)); passed=$((passed + t - f - s - d))
}

while [ $# -gt 0 ]; do
  if [ "$1" = --numalab ]; then
    nodes=$2; shift 2
    xml="$here/build/numalab/results-$nodes.xml"
    rm -f "$xml"
    # N+F: N nodes with CPUs and F memory-only nodes in a slower tier, for
    # the tiering tests alone (the rest ran on the plain topologies).
    case "$nodes" in
      *+*) NODES=${nodes%+*} FAR_NODES=${nodes#*+} MEM_PER_NODE=512 FAR_MEM=2048 LAB_GTEST_FILTER='Lab.Tier*' \
             "$here/tests/numalab/lab.sh" --tests ;;
      *) NODES=$nodes LAB_GTEST_FILTER='-Lab.Tier*' "$here/tests/numalab/lab.sh" --tests ;;
    esac
    lab_rc=$?
    if [ $lab_rc = 77 ]; then
      echo "run-tests: NUMA set with $nodes nodes SKIPPED (see the reason above)"; skipped=$((skipped + 1))
    elif [ -s "$xml" ] && grep -q '<testsuites' "$xml"; then
      count_xml "$xml"; [ $lab_rc = 0 ] || rc=1
    else
      echo "run-tests: NUMA lab with $nodes nodes gave no results (exit $lab_rc)" >&2; failed=$((failed + 1)); rc=1
    fi
    continue
  fi
  bin=$1; shift
  xml=$(mktemp --suffix=.xml)
  "$bin" --gtest_output="xml:$xml" || rc=1
  if [ -s "$xml" ] && grep -q '<testsuites' "$xml"; then
    count_xml "$xml"
  else
    echo "run-tests: $bin produced no results" >&2; rc=1; failed=$((failed + 1))
  fi
  rm -f "$xml"
done
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
