#!/usr/bin/env bash
# Install the Debian packages the integration test beds need (test/beds/*).
# Idempotent: checks first and only runs `apt-get update` when something is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# "package:command" pairs; the command (or dpkg status) tells whether it is present.
WANTED=(
  "openssh-server:/usr/sbin/sshd"   # test/beds/sshd.ts runs its own sshd
  "openssh-client:ssh"              # ssh, ssh-keygen, ssh-keyscan
  "openssl:openssl"                 # self-signed cert for test/beds/gitHttps.ts
  "git:git"                         # git + git http-backend
  # --- more system packages for other beds go here ("package:command") ---
  # (MariaDB: to be added here.)
  # --- end of extra packages ---
)

missing=()
for entry in "${WANTED[@]}"; do
  pkg="${entry%%:*}"
  cmd="${entry#*:}"
  if command -v "$cmd" >/dev/null 2>&1 && dpkg -s "$pkg" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # Keep packages from starting system services (e.g. sshd on port 22):
  # the beds start their own daemons on loopback ports.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  trap 'if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi' EXIT
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# sshd refuses to start without its privilege-separation directory.
[ -d /run/sshd ] || $SUDO install -d -m 0755 /run/sshd

for entry in "${WANTED[@]}"; do
  cmd="${entry#*:}"
  command -v "$cmd" >/dev/null 2>&1 || { echo "still missing after install: $cmd" >&2; exit 1; }
done
echo "system packages ready: $(git --version), $(openssl version), $(ssh -V 2>&1)"
