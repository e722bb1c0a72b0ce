#!/usr/bin/env bash
# Install MariaDB server + client for the test bed (test/beds/mariadb.ts).
# Idempotent. The tests start their own mariadbd, so the Debian system
# service must not be left running or enabled.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have_mariadbd() {
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]
}

stop_service() {
  # Stop a system server if one runs (package start, or a previous run).
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl stop mariadb >/dev/null 2>&1 || true
    $SUDO systemctl disable mariadb >/dev/null 2>&1 || true
  fi
  if command -v service >/dev/null 2>&1; then
    $SUDO service mariadb stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/mariadb ]; then
    $SUDO update-rc.d mariadb disable >/dev/null 2>&1 || true
  fi
  # Only the system instance (default pid file); test-bed servers use their own.
  local pidfile pid
  for pidfile in /run/mysqld/mysqld.pid /var/run/mysqld/mysqld.pid; do
    [ -s "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mariadbd ]; then
      $SUDO kill "$pid" || true
    fi
  done
}

if ! have_mariadbd || ! command -v mariadb >/dev/null 2>&1; then
  # Forbid the package from starting its service while it installs.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  trap 'if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi' EXIT

  install() { $SUDO apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null; }
  # apt-get update only when the package lists lack MariaDB or are too stale to install from.
  candidate="$(apt-cache policy mariadb-server 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    $SUDO apt-get update -qq
  fi
  install || { $SUDO apt-get update -qq && install; }
fi

stop_service

have_mariadbd || { echo "ci-mariadb: mariadbd still missing after install" >&2; exit 1; }
echo "ci-mariadb: $(PATH="$PATH:/usr/sbin" mariadbd --version)"
