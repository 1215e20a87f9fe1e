#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the test suite talks to are running on
# loopback. Installs them from Debian's packages when absent (root only) and starts them.
# The tests themselves fail loudly (never skip) when a server is still unreachable.
set -euo pipefail

log() { echo "[ensure-services] $*"; }
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    log "installing $* from Debian packages"
    $SUDO apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  else
    log "cannot install $*: no apt-get"; return 1
  fi
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    log "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
  # Trust auth on loopback for the 'postgres' role and a 'test' database, as the suite expects.
  if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    $SUDO -u postgres psql -Atc "create database test" >/dev/null 2>&1 || true
  fi
  log "PostgreSQL ready on 127.0.0.1:5432"
else
  log "PostgreSQL is NOT reachable on 127.0.0.1:5432"
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
if ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
fi
if redis_up; then log "Redis ready on 127.0.0.1:6379"; else log "Redis is NOT reachable on 127.0.0.1:6379"; fi

# Debian's Chromium for the dashboard's browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own).
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium || true
fi
if command -v chromium >/dev/null 2>&1; then log "Chromium ready: $(command -v chromium)"; else log "Chromium is NOT installed"; fi
