#!/usr/bin/env bash
# make bench-numa: hugeshim's placement against the kernel's AutoNUMA, in the
# NUMA lab (2 emulated nodes under QEMU TCG).  Scenarios: (a) a contiguous hot
# 10% of 2 GiB, (b) every 10th 2 MiB unit of 1 GiB, (c) two threads on two
# nodes writing disjoint halves of a 512 MiB hot set, (d) every 10th unit of
# 512 MiB only read, (e) a table read on node 0 and a buffer written on node 1
# (every 10th unit of 512 MiB, half each, each placed on the other node);
# variants: neither,
# AutoNUMA alone, hugeshim alone, both.  TCG emulates every instruction:
# compare the variants side by side, not absolute times.
# NUMA_BENCH_SECONDS (20) per run, NUMA_BENCH_ROUNDS (1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
secs=${NUMA_BENCH_SECONDS:-20}
rounds=${NUMA_BENCH_ROUNDS:-1}
out="$build/bench/numa-$(date +%Y%m%d-%H%M%S).txt"
mkdir -p "$build/bench"
raw=$(mktemp)
LAB_TIMEOUT=$((rounds * 20 * (secs + 60) + 120)) NODES=2 MEM_PER_NODE=3072 \
  "$here/tests/numalab/lab.sh" --with "$here/bench/numa-guest.sh" -- \
  sh "$here/bench/numa-guest.sh" "$build/libhugeshim.so" "$build/tests/hs_numa_probe" "$secs" "$rounds" |
  tee "$raw" | grep --line-buffered -o 'RESULT .*' >&2 || true
{
  echo "machine: NUMA lab, 2 nodes x 2 CPUs x 3 GiB under QEMU TCG on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $secs s per run, $rounds round(s); medians"
  grep -o 'RESULT .*' "$raw" | python3 -c '
import sys, statistics as st
rows = {}
for line in sys.stdin:
    kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
    rows.setdefault((kv["scenario"], kv["variant"]), []).append(kv)
desc = {"a": "(a) contiguous hot 10% of 2 GiB, written", "b": "(b) every 10th 2 MiB unit of 1 GiB, written",
        "c": "(c) two threads, two nodes, disjoint halves, written",
        "d": "(d) every 10th 2 MiB unit of 512 MiB, only read",
        "e": "(e) a table read on node 0, a buffer written on node 1 (every 10th unit of 512 MiB)"}
def med(rs, k):
    v = [float(r[k]) for r in rs if float(r[k]) >= 0]
    return st.median(v) if v else -1
for sc in "abcde":
    if not any(k[0] == sc for k in rows):
        continue
    print(desc[sc])
    print("%-9s %7s %7s %10s %11s %11s %9s %8s %9s %9s %7s" % ("variant", "t90_s", "t100_s", "migrated/", "pte_updates",
          "hint_faults", "thp_split", "cold_mv", "Mops_1st", "Mops_last", "hs_cpu"))
    print("%-9s %7s %7s %10s %11s %11s %9s %8s %9s %9s %7s" % ("", "", "", "misplaced", "", "", "", "", "", "", "ms"))
    for v in ("neither", "autonuma", "hugeshim", "both"):
        rs = rows.get((sc, v))
        if not rs:
            continue
        mis = med(rs, "misplaced_units") * 2 * 2**20
        migrated = med(rs, "pgmigrate_success") * 4096
        ratio = migrated / mis if mis > 0 else 0
        cpu_ms = (med(rs, "tracking_cpu_ns") + med(rs, "fault_cpu_ns")) / 1e6
        print("%-9s %7.1f %7.1f %10.2f %11d %11d %9d %8d %9.2f %9.2f %7.0f" % (v, med(rs, "t90_s"), med(rs, "t100_s"),
              ratio, med(rs, "numa_pte_updates"), med(rs, "numa_hint_faults"), med(rs, "thp_migration_split"),
              med(rs, "cold_moved"), med(rs, "first_mups"), med(rs, "last_mups"), cpu_ms))
    print()
'
  echo "t90/t100: seconds until 90%/100% of the hot bytes sit on their accessors' node (-1: never); hugeshim's epoch is 1 s."
  echo "Mops: million accesses (updates, or reads in (d) and the table of (e)) per second in the first and last second."
  echo "hs_cpu: CPU time of hugeshim's epoch thread (epochs and ticks) and fault thread over the run (tracking, sampling, placement)."
  echo "migrated/misplaced: bytes migrated by anyone (pgmigrate_success) over the misplaced hot bytes."
} | tee "$out"
rm -f "$raw"
echo "(saved in $out)"
