#!/bin/bash
# Backend CPU per statement of one pgbench client: scripts/pgbench_cpu.sh DB SECONDS PGBENCH_ARGS...
#
# e.g. scripts/pgbench_cpu.sh head 3 -f entry.sql@1 -f exit.sql@1   (scripts as written by
# orders_schema.walltrack.bench.pgbench_scripts). Connects with the usual PGHOST/PGPORT/PGUSER; the server
# must load pg_stat_statements (shared_preload_libraries) and DB must have the extension. Reads the
# pgbench backend's CPU time from /proc/<pid>/schedstat (so run it on the server's host) and the
# number of INSERT/UPDATE statements on walltrack.orders from pg_stat_statements, over SECONDS.
# CPU time is what the schema adds per statement, and it is steadier than tps on a shared machine.
# A profile helper, not a benchmark: the comparison figures come from python -m orders_schema.walltrack.bench.
set -euo pipefail
db=$1; seconds=$2; shift 2
out=$(mktemp)
pgbench -n -c 1 -T $((seconds + 2)) "$@" "$db" > "$out" 2>&1 &
bench=$!
sleep 0.8
pid=$(psql -d "$db" -Atc "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database() LIMIT 1")
calls="SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
       WHERE d.datname = current_database()
         AND (query LIKE 'INSERT INTO walltrack.orders%' OR query LIKE 'UPDATE walltrack.orders%')"
cpu0=$(cut -d' ' -f1 "/proc/$pid/schedstat"); n0=$(psql -d "$db" -Atc "$calls")
sleep "$seconds"
cpu1=$(cut -d' ' -f1 "/proc/$pid/schedstat"); n1=$(psql -d "$db" -Atc "$calls")
wait "$bench"
n=$((n1 - n0))
echo "$db: $(( (cpu1 - cpu0) / 1000 / (n > 0 ? n : 1) )) us backend CPU per statement over $n statements;" \
     "$(awk '/^tps/ {print $3}' "$out") tps"
rm -f "$out"
