#!/usr/bin/env bash
# make demo: what hugeshim does on this machine, in a screenful.
# 1. gups (one big malloc'd array, first touch then random updates) under
#    glibc, glibc's own THP tunable and hugeshim, alternating, 3 rounds:
#    medians, the huge pages the kernel gave each while the array lived, and
#    one line reading them for this machine;
# 2. hugeshim's summary of its own run (the full report is one command away);
# 3. where the NUMA lab runs (QEMU), placement on two emulated nodes against
#    AutoNUMA, and the heat picture of hugeshim's run (DEMO_LAB=0 skips it).
# DEMO_SIZE (1G), DEMO_UPDATES (50000000), DEMO_LAB_SECONDS (6).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
size=${DEMO_SIZE:-1G}
updates=${DEMO_UPDATES:-50000000}
report="$build/demo-report.json"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo absent)
echo "hugeshim demo on $cpu, $(nproc) CPUs, Linux $(uname -r), THP $thp"
echo "gups: a $size malloc'd array, first touch, then $updates random updates; 3 rounds, alternating"
declare -A ft mu hp
variants=(glibc glibc-thp hugeshim)
for round in 1 2 3; do
  for v in "${variants[@]}"; do
    case $v in
      glibc) out=$("$build/bench/gups" "$size" "$updates") ;;
      glibc-thp) out=$(GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$build/bench/gups" "$size" "$updates") ;;
      hugeshim) out=$("$build/hugeshim" run --stats "$report" -- "$build/bench/gups" "$size" "$updates") ;;
    esac
    ft[$v]="${ft[$v]:-} $(sed -n 's/^first_touch_s=//p' <<<"$out")"
    mu[$v]="${mu[$v]:-} $(sed -n 's/^mups=//p' <<<"$out")"
    hp[$v]="${hp[$v]:-} $(sed -n 's/^anon_huge_kb=//p' <<<"$out")"
  done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\n%-22s %15s %15s %22s\n' "" "first touch (s)" "M updates/s" "huge pages (kernel)"
for v in "${variants[@]}"; do
  name=$v
  [ "$v" = glibc-thp ] && name="glibc THP tunable"
  printf '%-22s %15s %15s %18s MiB\n' "$name" "$(median <<<"${ft[$v]}")" "$(median <<<"${mu[$v]}")" \
    "$(( $(median <<<"${hp[$v]}") / 1024 ))"
done
awk -v gt="$(median <<<"${ft[glibc]}")" -v ht="$(median <<<"${ft[hugeshim]}")" \
    -v gu="$(median <<<"${mu[glibc]}")" -v hu="$(median <<<"${mu[hugeshim]}")" -v tu="$(median <<<"${mu[glibc-thp]}")" '
BEGIN {
  t = gt / ht; u = hu / gu; g = tu / gu
  printf "reading: first touch %.2fx glibc'"'"'s speed", t
  if (t >= 1.1) printf " (a huge page is zeroed in one fault, not 512);"; else printf ";"
  if (u >= 1.05)
    printf " random updates %.2fx: fewer TLB misses pay on this machine.\n", u
  else if (g < 1.05)
    printf " random updates %.2fx, glibc'"'"'s own THP tunable %.2fx: this CPU does not reward huge pages on random access, so there is little to win here (README, When it helps).\n", u, g
  else
    printf " random updates %.2fx while glibc'"'"'s THP tunable gets %.2fx: hugeshim falls short here.\n", u, g
}'
echo
"$build/hugeshim" stats "$report" | sed -n '1,7p'
echo "  full report: $build/hugeshim stats --all $report"

[ "${DEMO_LAB:-1}" = 0 ] && exit 0
echo
echo "placement in the NUMA lab (2 emulated nodes under QEMU; DEMO_LAB=0 skips): 512 MiB filled on node 0,"
echo "then a thread on node 1 writes every 10th 2 MiB unit for ${DEMO_LAB_SECONDS:-6} s"
log=$(mktemp)
set +e
LAB_TIMEOUT=300 NODES=2 "$here/tests/numalab/lab.sh" --with "$here/bench/demo-guest.sh" -- \
  sh "$here/bench/demo-guest.sh" "$build/libhugeshim.so" "$build/tests/hs_numa_probe" "${DEMO_LAB_SECONDS:-6}" >"$log" 2>&1
rc=$?
set -e
if [ $rc = 77 ]; then
  echo "  the lab cannot run here: $(grep -o 'SKIPPED: .*' "$log" | head -1)"
  rm -f "$log"
  exit 0
fi
# (the firmware's terminal escapes may share a line with the first result)
if ! grep -aq 'DEMO_RESULT' "$log"; then
  echo "  the lab run failed (exit $rc); its last lines:"
  tail -n 5 "$log" | sed 's/^/    /'
  rm -f "$log"
  exit 0
fi
grep -ao 'DEMO_RESULT.*' "$log" | python3 -c '
import sys
for line in sys.stdin:
    kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
    t90 = float(kv["t90_s"])
    name = {"autonuma": "AutoNUMA alone", "hugeshim": "hugeshim alone"}[kv["variant"]]
    print("  %-16s %s of %s hot units local at the end, 90%% local %s; %s PTE updates by the kernel" % (
        name, kv["hot_local"], kv["hot_units"], "after %.1f s" % t90 if t90 >= 0 else "never",
        kv["numa_pte_updates"]))'
trace="$build/demo.trace"
tr -d '\r' <"$log" | sed -n '/^HS_DEMO_TRACE_BEGIN$/,/^HS_DEMO_TRACE_END$/p' | sed '1d;$d' | base64 -d > "$trace" 2>/dev/null || true
rm -f "$log"
if [ -s "$trace" ] && "$build/hugeshim" heatmap "$trace" -o "$build/demo-heat.png" >/dev/null 2>&1; then
  echo "  heat picture of hugeshim's run: $build/demo-heat.png"
fi
