#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for cartkit's engine tests (Debian packages `postgresql`, `redis-server`).
#
#   scripts/services.sh start          start both on free loopback ports in a new temporary folder;
#                                      prints `export NAME=value` lines on stdout (logs go to stderr):
#                                        CARTKIT_SERVICES_DIR    the folder (data, sockets, logs, pids)
#                                        CARTKIT_TEST_PG_URL     postgres://user:password@127.0.0.1:port/db
#                                        CARTKIT_TEST_PG_ADMIN_URL  the same as the superuser (tests that
#                                                                   kill connections or create roles)
#                                        CARTKIT_TEST_REDIS_URL  redis://127.0.0.1:port
#                                      use as:  eval "$(scripts/services.sh start)"
#   scripts/services.sh stop [DIR]     stop both and delete the folder (DIR or $CARTKIT_SERVICES_DIR)
#   scripts/services.sh env [DIR]      print the export lines of running services again
#   scripts/services.sh redis-stop [DIR] / redis-start [DIR]
#                                      stop / start Redis alone, same port (tests of Redis going away)
#
# Nothing listens beyond 127.0.0.1, nothing is persisted (fsync off, Redis without RDB/AOF), and
# every run gets its own folder, ports and password, so parallel runs do not meet.
set -euo pipefail

log() { echo "services: $*" >&2; }
die() {
  log "$*"
  exit 1
}

pg_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return
    fi
  done
  return 1
}

free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"
}

# Runs a command as the unprivileged owner of the PostgreSQL data (initdb refuses root).
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

load_state() {
  local dir="${1:-${CARTKIT_SERVICES_DIR:-}}"
  [[ -n "$dir" ]] || die "no services folder: pass it or set CARTKIT_SERVICES_DIR"
  [[ -f "$dir/state.env" ]] || die "$dir holds no running services (no state.env)"
  # shellcheck disable=SC1091
  source "$dir/state.env"
}

print_env() {
  echo "export CARTKIT_SERVICES_DIR='$DIR'"
  echo "export CARTKIT_TEST_PG_URL='postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB'"
  echo "export CARTKIT_TEST_PG_ADMIN_URL='postgres://postgres:$PG_ADMIN_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB'"
  echo "export CARTKIT_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT'"
}

redis_start() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --save '' --appendonly no --dir "$DIR/redis" \
    --daemonize yes --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" >&2 ||
    die "redis-server did not start (see $DIR/redis/redis.log)"
  local i
  for i in $(seq 1 100); do
    if [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)" == PONG ]]; then
      return 0
    fi
    sleep 0.1
  done
  die "redis-server on port $REDIS_PORT did not answer PING (see $DIR/redis/redis.log)"
}

redis_stop() {
  local pid
  pid="$(cat "$DIR/redis/redis.pid" 2>/dev/null || true)"
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  if [[ -n "$pid" ]]; then
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

cmd_start() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found: apt-get install redis-server"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found: apt-get install redis-tools"
  command -v psql >/dev/null 2>&1 || die "psql not found: apt-get install postgresql"
  local bindir
  bindir="$(pg_bindir)" || die "PostgreSQL server binaries not found: apt-get install postgresql"

  DIR="$(mktemp -d "${TMPDIR:-/tmp}/cartkit-services.XXXXXX")"
  PG_OS_USER="$(id -un)"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user (apt-get install postgresql)"
    PG_OS_USER=postgres
  fi
  mkdir -p "$DIR/pg" "$DIR/pgsock" "$DIR/redis"
  chmod 755 "$DIR"
  [[ "$(id -u)" == 0 ]] && chown "$PG_OS_USER" "$DIR/pg" "$DIR/pgsock"

  PG_PORT="$(free_port)"
  REDIS_PORT="$(free_port)"
  PG_USER=cartkit
  PG_DB=cartkit_test
  PG_PASSWORD="$(node -e "process.stdout.write(require('node:crypto').randomBytes(12).toString('hex'))")"
  PG_ADMIN_PASSWORD="$(node -e "process.stdout.write(require('node:crypto').randomBytes(12).toString('hex'))")"
  PG_BINDIR="$bindir"
  {
    echo "DIR='$DIR'"
    echo "PG_OS_USER='$PG_OS_USER'"
    echo "PG_BINDIR='$PG_BINDIR'"
    echo "PG_PORT='$PG_PORT'"
    echo "REDIS_PORT='$REDIS_PORT'"
    echo "PG_USER='$PG_USER'"
    echo "PG_DB='$PG_DB'"
    echo "PG_PASSWORD='$PG_PASSWORD'"
    echo "PG_ADMIN_PASSWORD='$PG_ADMIN_PASSWORD'"
  } >"$DIR/state.env"
  # A failure part-way stops whatever did start.
  trap 'log "start failed; cleaning up $DIR"; cmd_stop "$DIR" >/dev/null 2>&1 || true' ERR

  log "PostgreSQL ($bindir) on 127.0.0.1:$PG_PORT, data in $DIR/pg"
  echo "$PG_ADMIN_PASSWORD" >"$DIR/pgpass.tmp"
  [[ "$(id -u)" == 0 ]] && chown "$PG_OS_USER" "$DIR/pgpass.tmp"
  as_pg "$bindir/initdb" -D "$DIR/pg/data" -U postgres --pwfile="$DIR/pgpass.tmp" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 ||
    die "initdb failed (see $DIR/initdb.log)"
  rm -f "$DIR/pgpass.tmp"
  as_pg "$bindir/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DIR/pgsock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    >&2 || die "PostgreSQL did not start (see $DIR/pg/server.log)"
  as_pg psql -v ON_ERROR_STOP=1 -q -h "$DIR/pgsock" -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" \
    -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >&2 || die "could not create the test role and database"

  log "Redis on 127.0.0.1:$REDIS_PORT"
  redis_start
  trap - ERR
  print_env
}

cmd_stop() {
  load_state "${1:-}"
  redis_stop
  if [[ -f "$DIR/pg/data/postmaster.pid" ]]; then
    as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/pg/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  log "stopped and removed $DIR"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
env)
  load_state "${2:-}"
  print_env
  ;;
redis-stop)
  load_state "${2:-}"
  redis_stop
  ;;
redis-start)
  load_state "${2:-}"
  redis_start
  ;;
*)
  echo "usage: $0 start | stop [DIR] | env [DIR] | redis-stop [DIR] | redis-start [DIR]" >&2
  exit 2
  ;;
esac
