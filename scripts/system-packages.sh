#!/usr/bin/env bash
# Install the Debian packages of system-packages.txt that are missing: with apt-get when
# root, with sudo when it works without a password prompt. Otherwise print the exact command
# and exit 1, so that nothing runs half-equipped.
#   scripts/system-packages.sh           install what is missing
#   scripts/system-packages.sh --check   only say what is missing (exit 1 if anything)
set -euo pipefail
cd "$(dirname "$0")/.."
list=system-packages.txt
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "vigia: this is not a Debian-based system; install the equivalents of these packages" >&2
  echo "       (listed in $list) and run the tests again: ${wanted[*]}" >&2
  exit 1
fi

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
# A python3 without ensurepip (Debian's, before python3-venv) cannot make the .venv.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

command_line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "${1:-}" = "--check" ]; then
  echo "vigia: system packages missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  runner=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  runner=(sudo)
else
  echo "vigia: the tests need these Debian packages: ${missing[*]}" >&2
  echo "       install them as root, then run make test again:" >&2
  echo "       sudo apt-get update && sudo $command_line" >&2
  exit 1
fi
echo "vigia: installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${runner[@]}" apt-get update -qq
"${runner[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "vigia: system packages installed"
