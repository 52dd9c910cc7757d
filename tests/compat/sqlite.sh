#!/usr/bin/env bash
# sqlite3 under whatever LD_PRELOAD/HUGESHIM_* the caller set: a database of
# ROWS rows (deterministic content, ~180 bytes a row with its index entry:
# 7 M rows is ~1.2 GB) built with a 512 MiB page cache, an index,
# PRAGMA integrity_check, and
# sums over the data and SHA3 of the whole database (sqlite3's .sha3sum), so
# that every configuration must print the same line.  Usage: sqlite.sh DIR [ROWS]
set -euo pipefail
dir=$1 rows=${2:-7000000}
db="$dir/compat.db"
mkdir -p "$dir"
rm -f "$db"
sqlite3 "$db" <<SQL
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-524288;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO t SELECT x, (x * 2654435761) % 1000003, printf('name-%08d', (x * 40503) % $rows),
  printf('%.140c', char(65 + x % 26)) FROM c;
CREATE INDEX t_k ON t(k);
SQL
sqlite3 "$db" <<SQL
PRAGMA cache_size=-524288;
.mode list
SELECT 'integrity=' || (SELECT group_concat(integrity_check) FROM pragma_integrity_check);
SELECT 'rows=' || count(*) || ' sum_k=' || sum(k) || ' bytes=' || sum(length(payload)) FROM t;
SELECT 'k_range=' || count(*) FROM t WHERE k BETWEEN 1000 AND 200000;
.sha3sum
SQL
echo "db_bytes=$(stat -c %s "$db")"
rm -f "$db"
