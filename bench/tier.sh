#!/usr/bin/env bash
# make bench-tier: hugeshim's tiering against the kernel's tiering mode, in the
# NUMA lab with 2 CPU nodes of 512 MiB and a memory-only node of 2 GiB in a
# slower tier (HMAT).  A heap of TIER_BENCH_MIB (1400: about 1.5x the fast
# nodes' free memory) first touched from node 0, then a thread on node 0
# writes (or reads) every 10th 2 MiB unit; the hot set shifts by one unit
# every TIER_BENCH_SECONDS (20), TIER_BENCH_PHASES (3) times.  Variants, the
# same hugeshim heap in each: none (no tiering), kernel (numa_balancing=2 with
# demotion), damon (DAMON's migrate_cold/migrate_hot schemes on physical
# memory, where the kernel has them: bench/tier-guest.sh), hugeshim
# (HUGESHIM_TIER=auto, kernel off), both.  TCG emulates no latency: compare
# the variants side by side.  TIER_BENCH_ROUNDS (1); TIER_VARIANTS (e.g.
# hugeshim,both) and TIER_ACCESS (write or read) run some of them only.
# TIER_BENCH_FILL=slow puts the whole heap on the memory-only node first (a
# heap smaller than the fast tier, e.g. TIER_BENCH_MIB=256: all of its hot
# set to promote); TIER_BENCH_STEP_MS (1000) is how often the probe looks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build"
mib=${TIER_BENCH_MIB:-1400}
per=${TIER_BENCH_SECONDS:-20}
phases=${TIER_BENCH_PHASES:-3}
rounds=${TIER_BENCH_ROUNDS:-1}
fill=${TIER_BENCH_FILL:-node0}
step=${TIER_BENCH_STEP_MS:-1000}
out="$build/bench/tier-$(date +%Y%m%d-%H%M%S).txt"
mkdir -p "$build/bench"
raw=$(mktemp)
LAB_TIMEOUT=$((rounds * 10 * (phases * per + 90) + 120)) NODES=2 MEM_PER_NODE=512 FAR_NODES=1 FAR_MEM=2048 \
  "$here/tests/numalab/lab.sh" --with "$here/bench/tier-guest.sh" -- \
  sh "$here/bench/tier-guest.sh" "$build/libhugeshim.so" "$build/tests/hs_numa_probe" "$mib" "$phases" "$per" "$rounds" \
  "${TIER_VARIANTS:-all}" "${TIER_ACCESS:-all}" "$fill" "$step" |
  tee "$raw" | grep --line-buffered -o 'RESULT .*' >&2 || true
{
  echo "machine: NUMA lab, 2 nodes x 2 CPUs x 512 MiB + a memory-only node of 2 GiB (memory_tier33) under QEMU TCG on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "heap $mib MiB (filled: $fill), hot set every 10th 2 MiB unit, $phases phases of $per s, looked at every $step ms, $rounds round(s); medians"
  grep -o 'RESULT .*' "$raw" | PHASES=$phases python3 -c '
import os, sys, statistics as st
phases = int(os.environ["PHASES"])
rows = {}
for line in sys.stdin:
    kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
    rows.setdefault((kv["access"], kv["variant"]), []).append(kv)
def med(rs, k):
    v = [float(r[k]) for r in rs if k in r and float(r[k]) >= 0]
    return st.median(v) if v else -1
for access in ("write", "read"):
    if not any(k[0] == access for k in rows):
        continue
    print("hot set %s" % ("written" if access == "write" else "only read"))
    cols = ["phase %d" % p for p in range(phases)]
    print("%-9s " % "variant" + " ".join("%14s" % c for c in cols) +
          " %10s %10s %9s %11s %7s" % ("moved/", "back&forth", "thp_split", "on_slow", "cpu"))
    print("%-9s " % "" + " ".join("%14s" % "" for c in cols) + " %10s %10s %9s %11s %7s" % ("hot bytes", "units", "", "start/end", "ms"))
    for v in ("none", "kernel", "damon", "hugeshim", "both"):
        rs = rows.get((access, v))
        if not rs:
            continue
        hot = sum(med(rs, "phase_%d_hot_units" % p) for p in range(phases)) * 2 * 2**20
        moved = med(rs, "pgmigrate_phases") * 4096
        t90 = ["%14s" % (("never" if med(rs, "phase_%d_s_to_90" % p) < 0 else "%.1f s" % med(rs, "phase_%d_s_to_90" % p))
                         + " (%d%%)" % med(rs, "phase_%d_end_pct" % p)) for p in range(phases)]
        cpu = (med(rs, "tracking_cpu_ns") + med(rs, "fault_cpu_ns") + max(med(rs, "damon_cpu_ns"), 0)) / 1e6
        slow = "%d/%d" % (med(rs, "before_on_slow"), med(rs, "on_slow"))
        print("%-9s " % v + " ".join(t90) + " %10.2f %10d %9d %11s %7.0f" % (moved / hot if hot else 0,
              med(rs, "units_moved_back_and_forth"), med(rs, "thp_migration_split"), slow, cpu))
    print()
'
  echo "phase N: seconds after the phase began until 90% of its hot units sat on a fast node (never: not within the"
  echo "phase), and in brackets the share on fast nodes at the phase's end."
  echo "moved/hot bytes: bytes migrated by anyone (pgmigrate_success) while the phases ran, over the bytes of the hot sets of all phases."
  echo "back&forth: units that went fast->slow->fast (or the reverse) during the run."
  echo "on_slow: units of the heap on the slow node after the fill and at the end; cpu: CPU of hugeshim's threads (tracking, sampling, tiering),"
  echo "for damon that of its two kdamonds."
} | tee "$out"
# Each run's RESULT line (the sampler's and tiering's counters too), for a diagnosis.
grep -o 'RESULT .*' "$raw" > "${out%.txt}-runs.txt" || true
rm -f "$raw"
echo "(saved in $out, each run in ${out%.txt}-runs.txt)"
