#!/usr/bin/env bash
# Make Debian's PostgreSQL server binaries (initdb, pg_ctl) available; idempotent and quiet.
#
# The register's tests start a throw-away cluster from these binaries (no service, no
# default cluster): nothing is installed when /usr/lib/postgresql/*/bin/initdb exists.
# Debian's packaging would create and start a "main" cluster on port 5432; this script
# turns that off first (create_main_cluster = false). Needs root (or sudo) and apt.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=(sudo -n); else
        echo "install-postgres: need root (or sudo) to apt-get install postgresql" >&2
        exit 1
    fi
fi

"${SUDO[@]}" mkdir -p /etc/postgresql-common
conf=/etc/postgresql-common/createcluster.conf
if ! grep -qs '^create_main_cluster *= *false' "$conf"; then
    echo 'create_main_cluster = false' | "${SUDO[@]}" tee -a "$conf" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold postgresql >/dev/null

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "install-postgres: postgresql installed but no initdb under /usr/lib/postgresql" >&2
    exit 1
fi
