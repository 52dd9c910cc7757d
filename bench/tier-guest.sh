#!/bin/sh
# Runs inside the NUMA lab (bench/tier.sh starts it): a hot set that shifts
# over a heap larger than the fast nodes, read and written, under each
# variant, alternating, ROUNDS times; one RESULT line per run.
#   tier-guest.sh LIB PROBE MIB PHASES SECONDS_PER_PHASE ROUNDS [VARIANTS [ACCESS [FILL [STEP_MS]]]]
# VARIANTS, ACCESS: comma-separated, "all" (the default) for every one.
# FILL: node0 (the default: first touched from node 0, the fast nodes fill
# first) or slow (the whole heap on the memory-only node); STEP_MS: how often
# the probe looks where the hot set is (1000).
lib=$1 probe=$2 mib=$3 phases=$4 per=$5 rounds=${6:-1} only=${7:-all} accesses=${8:-all} fill=${9:-node0}
step_ms=${10:-1000}
fill_env=
[ "$fill" = slow ] && fill_env=HS_PROBE_FILL_SLOW=1
vm() { sed -n "s/^$1 //p" /proc/vmstat; }
# A value of hugeshim's report: js FILE SECTION KEY (the first KEY inside SECTION).
js() { sed -n "/^  \"$2\": {/,/^  }/s/.*\"$3\": \"\{0,1\}\([^\",]*\).*/\1/p" "$1" | head -1; }
# DAMON's tiering schemes (Linux 6.11+, paddr operations): kdamond 0 watches
# the CPU nodes' memory and moves what it saw unaccessed for 2 s to the
# memory-only node (migrate_cold), kdamond 1 watches that node and moves what
# was accessed to node 0 (migrate_hot); 256 MiB/s each way, as hugeshim's
# default.  Sampling every 5 ms, aggregated every 100 ms (DAMON's defaults).
damon=/sys/kernel/mm/damon/admin
slow=$(for n in /sys/devices/system/node/node*; do [ -z "$(cat "$n/cpulist")" ] && basename "$n"; done | sed -n 's/node//p' | head -1)
damon_ok() {
  [ -n "$slow" ] && [ -d $damon/kdamonds ] || return 1
  echo 1 > $damon/kdamonds/nr_kdamonds && echo 1 > $damon/kdamonds/0/contexts/nr_contexts &&
    grep -qw paddr $damon/kdamonds/0/contexts/0/avail_operations &&
    echo 1 > $damon/kdamonds/0/contexts/0/schemes/nr_schemes &&
    echo migrate_cold > $damon/kdamonds/0/contexts/0/schemes/0/action 2>/dev/null
  ok=$?
  echo 0 > $damon/kdamonds/nr_kdamonds
  return $ok
}
# The physical range of node $1's memory blocks: "start end".
node_range() {
  bs=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
  ids=$(ls -d /sys/devices/system/node/node$1/memory[0-9]* | sed 's/.*memory//' | sort -n)
  echo $(($(echo "$ids" | head -1) * bs)) $((($(echo "$ids" | tail -1) + 1) * bs))
}
# kdamond $1 watches nodes $2 (a list) and applies $3 toward node $4.
damon_kdamond() {
  c=$damon/kdamonds/$1/contexts/0
  echo 1 > $damon/kdamonds/$1/contexts/nr_contexts
  echo paddr > $c/operations
  echo 5000 > $c/monitoring_attrs/intervals/sample_us
  echo 100000 > $c/monitoring_attrs/intervals/aggr_us
  echo 1000000 > $c/monitoring_attrs/intervals/update_us
  echo 1 > $c/targets/nr_targets
  nodes=$2
  echo "$(echo $nodes | wc -w)" > $c/targets/0/regions/nr_regions
  i=0
  for n in $nodes; do
    set -- $(node_range "$n")
    echo "$1" > $c/targets/0/regions/$i/start
    echo "$2" > $c/targets/0/regions/$i/end
    i=$((i + 1))
  done
}
damon_scheme() { # context dir, action, target node, nr_accesses min max, age min
  s=$1/schemes/0
  echo 1 > $1/schemes/nr_schemes
  echo "$2" > $s/action
  echo "$3" > $s/target_nid
  # Every range of the pattern starts as [0, 0]: open the ones not asked for.
  echo 18446744073709551615 > $s/access_pattern/sz/max
  echo "$4" > $s/access_pattern/nr_accesses/min
  echo "$5" > $s/access_pattern/nr_accesses/max
  echo 18446744073709551615 > $s/access_pattern/age/max
  echo "$6" > $s/access_pattern/age/min
  echo $((256 << 20)) > $s/quotas/bytes
  echo 1000 > $s/quotas/reset_interval_ms
}
damon_start() {
  echo 2 > $damon/kdamonds/nr_kdamonds
  damon_kdamond 0 "$(seq 0 $((slow - 1)) | tr '\n' ' ')"
  damon_scheme $damon/kdamonds/0/contexts/0 migrate_cold "$slow" 0 0 20
  damon_kdamond 1 "$slow"
  damon_scheme $damon/kdamonds/1/contexts/0 migrate_hot 0 1 4294967295 0
  echo on > $damon/kdamonds/0/state
  echo on > $damon/kdamonds/1/state
}
# CPU time of the two kdamonds so far, in ms (clock ticks of 10 ms).
damon_cpu_ms() {
  t=0
  for k in 0 1; do
    pid=$(cat $damon/kdamonds/$k/pid)
    [ "$pid" -gt 0 ] 2>/dev/null && t=$((t + $(awk '{print $14 + $15}' /proc/"$pid"/stat)))
  done
  echo $((t * 10))
}
damon_stop() {
  echo off > $damon/kdamonds/0/state 2>/dev/null
  echo off > $damon/kdamonds/1/state 2>/dev/null
  echo 0 > $damon/kdamonds/nr_kdamonds
}
variants="none kernel hugeshim both"
if damon_ok; then variants="none kernel damon hugeshim both"; else echo "DAMON: no paddr migrate_cold in this kernel" >&2; fi
# Free MiB on the nodes with CPUs (the fast tier).
fast_free_mib() {
  kb=0
  for n in /sys/devices/system/node/node*; do
    [ -n "$(cat "$n/cpulist")" ] && kb=$((kb + $(sed -n 's/.*MemFree: *\([0-9]*\) kB/\1/p' "$n/meminfo")))
  done
  echo $((kb / 1024))
}
# Every run starts from the same state: caches dropped, memory compacted,
# and the last run's memory given back (an exiting process frees its heap
# after its parent has seen it end).
settle() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  echo 1 > /proc/sys/vm/compact_memory
  prev=0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    free=$(fast_free_mib)
    [ "$free" -le $((prev + 4)) ] && break
    prev=$free
    sleep 1
  done
}
[ "$only" = all ] || variants=$(echo "$only" | tr , ' ')
[ "$accesses" = all ] && accesses="write read" || accesses=$(echo "$accesses" | tr , ' ')
for round in $(seq 1 "$rounds"); do
  for access in $accesses; do
    for variant in $variants; do
      case $variant in
        none|hugeshim|damon) echo 0 > /proc/sys/kernel/numa_balancing; echo false > /sys/kernel/mm/numa/demotion_enabled ;;
        *) echo 2 > /proc/sys/kernel/numa_balancing; echo true > /sys/kernel/mm/numa/demotion_enabled ;;
      esac
      case $variant in
        hugeshim|both) tier=auto ;;
        *) tier=off ;;
      esac
      report=/tmp/bench-tier-$variant.json
      settle
      fast_free=$(fast_free_mib)
      p0=$(vm pgpromote_success) d0=$(($(vm pgdemote_kswapd) + $(vm pgdemote_direct))) m0=$(vm pgmigrate_success)
      [ $variant = damon ] && damon_start
      # The same heap (hugeshim's THP heap) in every variant; only tiering differs.
      out=$(env $fill_env LD_PRELOAD=$lib HS_PROBE_WALL=1 HS_PROBE_STEP_MS=$step_ms HUGESHIM_TIER=$tier \
            HUGESHIM_MIGRATE=off HUGESHIM_STATS=$report \
            "$probe" tier-shift "$mib" 10 "$access" "$phases" $((per * 1000 / step_ms)) | grep -v '_epoch_' | tr '\n' ' ')
      damon_ms=0
      [ $variant = damon ] && damon_ms=$(damon_cpu_ms) && damon_stop
      p1=$(vm pgpromote_success) d1=$(($(vm pgdemote_kswapd) + $(vm pgdemote_direct))) m1=$(vm pgmigrate_success)
      cpu=$(js "$report" tracking scan_cpu_ns_total) tick=$(js "$report" tracking tick_cpu_ns_total)
      cpu=$((${cpu:-0} + ${tick:-0}))
      wp=$(js "$report" tracking wp_cpu_ns_total)
      up=$(sed -n '/"promoted"/,/}/s/.*"bytes": \([0-9]*\).*/\1/p' "$report" | head -1)
      down=$(sed -n '/"demoted"/,/}/s/.*"bytes": \([0-9]*\).*/\1/p' "$report" | head -1)
      echo "RESULT round=$round access=$access variant=$variant fast_free_mib=$fast_free $out kernel_promoted=$((p1 - p0))" \
           "kernel_demoted=$((d1 - d0)) pgmigrate=$((m1 - m0)) hs_promoted_bytes=${up:-0} hs_demoted_bytes=${down:-0}" \
           "tracking_cpu_ns=${cpu:-0} fault_cpu_ns=${wp:-0} damon_cpu_ns=$((damon_ms * 1000000))" \
           "sampling=$(js "$report" sampling enabled) parked=$(js "$report" sampling parked)" \
           "accessed=$(js "$report" sampling accessed) idle=$(js "$report" sampling idle)" \
           "not_whole=$(js "$report" sampling not_whole) incompatible=$(js "$report" sampling incompatible)" \
           "shared=$(js "$report" sampling shared) busy=$(js "$report" sampling busy)" \
           "sampling_errors=$(js "$report" sampling errors) tier_failed=$(js "$report" tiering failed)" \
           "held_no_room=$(js "$report" tiering no_room) held_cooling=$(js "$report" tiering cooling)"
    done
  done
done
echo 0 > /proc/sys/kernel/numa_balancing
echo false > /sys/kernel/mm/numa/demotion_enabled
