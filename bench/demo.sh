#!/usr/bin/env bash
# make demo: the bundled random-access workload with and without hugeshim,
# alternating, then hugeshim's own report of what it did.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
size=${DEMO_SIZE:-1G}
updates=${DEMO_UPDATES:-50000000}
report="$build/demo-report.json"
echo "hugeshim demo: gups over a $size malloc'd array, $updates random updates; glibc vs hugeshim (THP), 3 rounds"
declare -a g h
for round in 1 2 3; do
  g+=("$("$build/bench/gups" "$size" "$updates" | tr '\n' ' ')")
  h+=("$("$build/hugeshim" run --backing thp --stats "$report" -- "$build/bench/gups" "$size" "$updates" | tr '\n' ' ')")
  echo "  round $round done" >&2
done
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
median3() { sort -g | sed -n 2p; }
gft=$(for r in "${g[@]}"; do field first_touch_s <<<"$r"; done | median3)
hft=$(for r in "${h[@]}"; do field first_touch_s <<<"$r"; done | median3)
gm=$(for r in "${g[@]}"; do field mups <<<"$r"; done | median3)
hm=$(for r in "${h[@]}"; do field mups <<<"$r"; done | median3)
printf '\n%-12s %16s %16s\n' "" "first touch (s)" "M updates/s"
printf '%-12s %16s %16s\n' glibc "$gft" "$gm"
printf '%-12s %16s %16s\n' hugeshim "$hft" "$hm"
awk -v a="$gft" -v b="$hft" -v c="$gm" -v d="$hm" 'BEGIN { printf "%-12s %15.2fx %15.2fx\n", "ratio", b / a, d / c }'
echo "(first-touch times on a virtual machine depend on how the host backs freed memory: README, Benchmarks)"
echo
"$build/hugeshim" stats "$report"
