#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine: the Debian packages that
# tests and the sandbox run for real, and a virtualenv at .venv with the project and its test
# tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-system-x86 and busybox-static boot the cgroup v2 VM test (scripts/vm-cgroup-v2.sh).
debian_packages=(prometheus prometheus-alertmanager fio qemu-system-x86 busybox-static)
missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps the packages' own services and docs out; policy-rc.d stops
  # the package scripts from starting a system Prometheus that would hold port 9090.
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi

# The VM test's kernel: downloaded and unpacked once per Debian kernel version, then cached.
scripts/vm-cgroup-v2.sh --fetch

python=${PYTHON:-python3}
# Debian's own python3 ships venv's pip bootstrap in a separate package.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "setup: installing python3-venv for $python"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
