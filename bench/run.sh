#!/usr/bin/env bash
# The benchmark with preset sizes: `bench/run.sh quick` (100 MB tree, 1 round, small upload: a
# minute, for development) or `bench/run.sh full` (1 GB tree, 7 rounds, 2 GB upload: the figures
# for bench/RESULTS.md; run it on a machine that is otherwise idle). Any BENCH_* variable already
# set wins over the preset. `bench/run.sh daily-quick` (100 MB) / `daily-full` (1 GB): a week of
# daily backups of a changing tree, batt full, batt incremental and restic (bench/daily.ts).
# `bench/run.sh daily-db [quick|full]`: a week of daily backups of a changing MariaDB database
# (quick: a 50 MB dump; full: 500 MB), batt mysql, batt mysql with a restic target and restic of a
# plain dump (bench/daily-db.ts; as root). `BENCH_DB=postgresql bash bench/run.sh daily-db quick`:
# the same for PostgreSQL (a Debian-style throwaway cluster): batt postgresql, with a restic target
# (the default and --postgresql-compress none), restic of pg_dump -Fp and of pg_dump -Fc -Z 0.
# `bench/run.sh db [small|full]`: batt's PostgreSQL backup and restore (FORMAT=custom,
# FORMAT=directory) against the same commands by hand, then batt's MySQL backup against the bare
# `mariadb-dump | zstd -3 -T0`, on generated databases (small: 200000 rows, about 55 MB
# (PostgreSQL) and 45 MB (MariaDB), 1 round; full: 2500000 rows, about 650 and 540 MB, 3 rounds;
# as root; BENCH_DB=postgresql or =mariadb runs one half) (bench/db.ts).
# `bench/run.sh physical [small|full]`: METHOD=physical against the logical dumps, backup and
# restore (until a server on the restored data answers), for MariaDB and PostgreSQL (small:
# 300000 rows each, 1 round; full: 4000000 rows, about 1 GB each, 3 rounds; as root) (bench/physical.ts).
# Never part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-quick}
if [ "$mode" = physical ]; then
  case "${2:-small}" in
    small) : "${BENCH_DB_ROWS:=300000}" "${BENCH_RUNS:=1}" "${BENCH_RESULTS:=-}" ;;
    full) : "${BENCH_DB_ROWS:=4000000}" "${BENCH_RUNS:=3}" ;;
    *) echo "usage: bench/run.sh physical [small|full]" >&2; exit 2 ;;
  esac
  export BENCH_DB_ROWS BENCH_RUNS
  [ -z "${BENCH_RESULTS:-}" ] || export BENCH_RESULTS
  echo "bench/run.sh physical ${2:-small}: $(uptime)" >&2
  npm run build
  exec node --import tsx bench/physical.ts
fi
if [ "$mode" = daily-db ]; then
  case "${2:-quick}" in
    quick) : "${BENCH_DB_MB:=50}" ;;
    full) : "${BENCH_DB_MB:=500}" ;;
    *) echo "usage: bench/run.sh daily-db [quick|full]" >&2; exit 2 ;;
  esac
  export BENCH_DB_MB
  [ -z "${BENCH_DB:-}" ] || export BENCH_DB
  echo "bench/run.sh daily-db ${2:-quick}: $(uptime)" >&2
  npm run build
  exec node --import tsx bench/daily-db.ts
fi
if [ "$mode" = db ]; then
  case "${2:-small}" in
    small) : "${BENCH_DB_ROWS:=200000}" "${BENCH_RUNS:=1}" "${BENCH_RESULTS:=-}" ;;
    full) : "${BENCH_DB_ROWS:=2500000}" "${BENCH_RUNS:=3}" ;;
    *) echo "usage: bench/run.sh db [small|full]" >&2; exit 2 ;;
  esac
  export BENCH_DB_ROWS BENCH_RUNS
  [ -z "${BENCH_RESULTS:-}" ] || export BENCH_RESULTS
  [ -z "${BENCH_DB:-}" ] || export BENCH_DB
  echo "bench/run.sh db ${2:-small}: $(uptime)" >&2
  npm run build
  exec node --import tsx bench/db.ts
fi
case "$mode" in
  quick)
    : "${BENCH_SIZE_MB:=100}" "${BENCH_RUNS:=1}" "${BENCH_STARTUP_RUNS:=10}" "${BENCH_S3_MB:=50}"
    : "${BENCH_RESULTS:=-}"
    ;;
  full)
    : "${BENCH_SIZE_MB:=1024}" "${BENCH_RUNS:=7}" "${BENCH_STARTUP_RUNS:=30}" "${BENCH_S3_MB:=2048}"
    ;;
  daily-quick | daily-full)
    [ "$mode" = daily-quick ] && : "${BENCH_SIZE_MB:=100}"
    : "${BENCH_SIZE_MB:=1024}"
    export BENCH_SIZE_MB
    echo "bench/run.sh $mode: $(uptime)" >&2
    npm run build
    exec node --import tsx bench/daily.ts
    ;;
  *) echo "usage: bench/run.sh [quick|full|daily-quick|daily-full|daily-db [quick|full]|db [small|full]|physical [small|full]]" >&2; exit 2 ;;
esac
export BENCH_SIZE_MB BENCH_RUNS BENCH_STARTUP_RUNS BENCH_S3_MB
[ -z "${BENCH_RESULTS:-}" ] || export BENCH_RESULTS
echo "bench/run.sh $mode: $(uptime)" >&2
exec npm run bench
