#!/usr/bin/env bash
# redis under whatever LD_PRELOAD/HUGESHIM_* the caller set (bash, the server
# and redis-cli alike): a SET workload of KEYS keys (values of 1 byte to 8 KiB,
# deterministic), DEBUG DIGEST, BGSAVE, shut down, restart from the RDB file,
# DEBUG DIGEST again.  Prints keys, both digests and the RDB's size; exit 1 with
# a reason on any failure.  Usage: redis.sh DIR [KEYS]
set -euo pipefail
dir=$1 keys=${2:-200000}
sock="$dir/redis.sock"
mkdir -p "$dir"
start() {
  redis-server --port 0 --unixsocket "$sock" --dir "$dir" --dbfilename dump.rdb --save "" \
    --appendonly no --daemonize no --enable-debug-command local --logfile "$dir/redis.log" &
  pid=$!
  for _ in $(seq 1 200); do
    redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "redis.sh: the server did not answer (log: $dir/redis.log)"; exit 1
}
stop() {
  redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || { echo "redis.sh: the server exited with $?"; exit 1; }
}
start
# The workload: SET key:i with a value whose size and bytes depend on i only.
awk -v n="$keys" 'BEGIN {
  for (c = 0; c < 10; c++) { r = substr("abcdefghij", c + 1, 1); while (length(r) < 8192) r = r r; fill[c] = r }
  for (i = 0; i < n; i++) {
    len = (i * 2654435761) % 8192 + 1; if (i % 10) len = len % 512 + 1
    v = substr(fill[i % 10], 1, len)
    printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\n%s\r\n", length("key:" i), i, len, v
  }
}' | redis-cli -s "$sock" --pipe >"$dir/pipe.out" 2>&1 || { echo "redis.sh: --pipe failed"; cat "$dir/pipe.out"; exit 1; }
grep -q "errors: 0, replies: $keys" "$dir/pipe.out" || { echo "redis.sh: the SETs did not all succeed"; cat "$dir/pipe.out"; exit 1; }
n=$(redis-cli -s "$sock" dbsize)
d1=$(redis-cli -s "$sock" debug digest)
before=$(redis-cli -s "$sock" lastsave)
redis-cli -s "$sock" bgsave >/dev/null
for _ in $(seq 1 600); do
  [ "$(redis-cli -s "$sock" lastsave)" != "$before" ] && break
  sleep 0.1
done
[ "$(redis-cli -s "$sock" lastsave)" != "$before" ] || { echo "redis.sh: BGSAVE did not finish"; exit 1; }
redis-cli -s "$sock" info persistence | grep -q "rdb_last_bgsave_status:ok" || { echo "redis.sh: BGSAVE failed"; exit 1; }
stop
start
d2=$(redis-cli -s "$sock" debug digest)
n2=$(redis-cli -s "$sock" dbsize)
stop
echo "keys=$n reloaded_keys=$n2 digest=$d1 reloaded_digest=$d2 rdb_bytes=$(stat -c %s "$dir/dump.rdb")"
