#!/bin/sh
# Runs inside the NUMA lab for make demo (bench/demo.sh starts it): 512 MiB
# filled on node 0, then a thread on node 1 writes every 10th 2 MiB unit for
# SECONDS; once with the kernel's AutoNUMA alone, once with hugeshim alone
# (its trace kept).  One DEMO_RESULT line per run, then the trace in base64.
#   demo-guest.sh LIB PROBE SECONDS
lib=$1 probe=$2 secs=${3:-6}
for variant in autonuma hugeshim; do
  if [ "$variant" = autonuma ]; then
    echo 1 > /proc/sys/kernel/numa_balancing
    out=$(LD_PRELOAD=$lib HUGESHIM_MIGRATE=off "$probe" numa-bench 512 every:10 node1 "$secs" | tr '\n' ' ')
  else
    echo 0 > /proc/sys/kernel/numa_balancing
    out=$(LD_PRELOAD=$lib HUGESHIM_MIGRATE=on HUGESHIM_TRACE=/tmp/demo.trace HUGESHIM_STATS=/tmp/demo.json \
          "$probe" numa-bench 512 every:10 node1 "$secs" | tr '\n' ' ')
  fi
  echo "DEMO_RESULT variant=$variant $out"
done
echo 0 > /proc/sys/kernel/numa_balancing
echo HS_DEMO_TRACE_BEGIN
base64 /tmp/demo.trace
echo HS_DEMO_TRACE_END
