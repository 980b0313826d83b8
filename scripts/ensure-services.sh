#!/usr/bin/env bash
# Makes sure Postgres and Redis answer on 127.0.0.1 (5432, 6379), installing and starting them only where they
# do not, and remembers what it started so that exactly that can be stopped again; services that were already
# running are never touched. Shared by .ci/run (which sources it) and `npm run demo` (which runs it):
#
#   source scripts/ensure-services.sh; ensure_postgres; ensure_redis; ...; stop_started_services
#   scripts/ensure-services.sh start --state FILE   # ensure both; write what was started to FILE
#   scripts/ensure-services.sh stop --state FILE    # stop what FILE says was started, then remove FILE
#   scripts/ensure-services.sh chromium             # install Debian's chromium if /usr/bin/chromium is missing
#   scripts/ensure-services.sh jq                   # install jq if it is missing

STARTED_PG_CLUSTER="${STARTED_PG_CLUSTER:-}"
REDIS_PIDFILE="${REDIS_PIDFILE:-}"
APT_UPDATED="${APT_UPDATED:-}"
SERVICES_LOG_PREFIX="${SERVICES_LOG_PREFIX:-services}"

log() { printf '[%s] %s\n' "$SERVICES_LOG_PREFIX" "$*" >&2; }

apt_install() {
  if [[ -z "$APT_UPDATED" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

wait_for() { # wait_for <what> <command...>: up to 30 s
  local what=$1
  shift
  for _ in $(seq 1 30); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not answer within 30 s"
  return 1
}

pg_up() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }

ensure_postgres() {
  if pg_up; then
    log "Postgres answers on 127.0.0.1:5432"
    return
  fi
  local fresh=""
  if ! command -v pg_ctlcluster >/dev/null || [[ -z "$(ls /etc/postgresql 2>/dev/null)" ]]; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | head -1)
  if [[ -n "$fresh" ]]; then
    # a fresh Debian cluster wants peer/password auth; the tests connect as postgres over TCP without one
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    sed -i -E 's/^(local|host)(\s+all\s+all\s+.*\s)(peer|scram-sha-256|md5)\s*$/\1\2trust/; s/^(local\s+all\s+postgres\s+)peer\s*$/\1trust/' "$hba"
  fi
  log "starting Postgres $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
  STARTED_PG_CLUSTER=$version
  wait_for "Postgres" pg_isready -h 127.0.0.1 -p 5432 -q
}

redis_up() { command -v redis-cli >/dev/null && [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]; }

ensure_redis() {
  if redis_up; then
    log "Redis answers on 127.0.0.1:6379"
    return
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing Redis"
    apt_install redis-server
  fi
  log "starting Redis"
  REDIS_PIDFILE=$(mktemp -u /tmp/maskforge-redis.XXXXXX.pid)
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --pidfile "$REDIS_PIDFILE" >&2
  wait_for "Redis" redis_up
}

# Debian's chromium for the dashboard's browser test (playwright-core drives it; it never downloads a browser)
ensure_chromium() {
  if [[ -x /usr/bin/chromium ]]; then return; fi
  log "installing chromium (for test/api/dashboard/dashboard.test.ts)"
  apt_install chromium
}

# jq for test/readme-walkthrough.test.ts, which runs the README's curl walkthrough as written
ensure_jq() {
  if command -v jq >/dev/null; then return; fi
  log "installing jq (for test/readme-walkthrough.test.ts)"
  apt_install jq
}

stop_started_services() {
  if [[ -n "$REDIS_PIDFILE" && -f "$REDIS_PIDFILE" ]]; then
    log "stopping the Redis this run started"
    kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
    rm -f "$REDIS_PIDFILE"
  fi
  REDIS_PIDFILE=""
  if [[ -n "$STARTED_PG_CLUSTER" ]]; then
    log "stopping the Postgres cluster this run started ($STARTED_PG_CLUSTER main)"
    pg_ctlcluster --skip-systemctl-redirect "$STARTED_PG_CLUSTER" main stop >&2 || true
  fi
  STARTED_PG_CLUSTER=""
}

# run as a program (not sourced): start|stop with a state file, or chromium
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cmd=${1:-}
  state=""
  if [[ "${2:-}" == "--state" && -n "${3:-}" ]]; then state=$3; fi
  case "$cmd" in
    start)
      [[ -n "$state" ]] || { echo "usage: $0 start --state FILE" >&2; exit 2; }
      # written as soon as something is started, so a failure halfway still lets `stop` undo it
      trap 'printf "STARTED_PG_CLUSTER=%q\nREDIS_PIDFILE=%q\n" "$STARTED_PG_CLUSTER" "$REDIS_PIDFILE" > "$state"' EXIT
      ensure_postgres
      ensure_redis
      ;;
    stop)
      [[ -n "$state" ]] || { echo "usage: $0 stop --state FILE" >&2; exit 2; }
      if [[ -f "$state" ]]; then
        # shellcheck disable=SC1090
        source "$state"
        stop_started_services
        rm -f "$state"
      fi
      ;;
    chromium) ensure_chromium ;;
    jq) ensure_jq ;;
    *)
      echo "usage: $0 start|stop --state FILE | chromium | jq" >&2
      exit 2
      ;;
  esac
fi
