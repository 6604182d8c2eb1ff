#!/usr/bin/env bash
# Creates the export venv (default .venv-export) from requirements-export.txt, idempotently:
# a stamp named after the requirements file's hash says it is complete, so a second run with the
# same file returns at once and an edited file reinstalls. Safe to run from two places at once
# (a lock). Then checks that every package imports and that torchvision's compiled NMS runs.
#
#   bash export/setup_venv.sh            # or: make export-venv
#   VIGIA_EXPORT_VENV=/elsewhere bash export/setup_venv.sh
#
# Python 3.11 is needed: on the project's machines the torch/torchvision wheels it pins lie on
# local disk for 3.11 only (PYTHON=python3.11 to choose the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VIGIA_EXPORT_VENV:-.venv-export}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=requirements-export.txt
HASH="$(sha256sum "$REQUIREMENTS" | cut -c1-16)"
STAMP="$VENV/.installed-$HASH"

if [ -f "$STAMP" ]; then
  exit 0
fi

mkdir -p "$VENV"
exec 9>"$VENV/.lock"
flock 9
if [ -f "$STAMP" ]; then  # made by the run that held the lock before us
  exit 0
fi

version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$version" != "3.11" ]; then
  echo "export venv: $PYTHON is Python $version; requirements-export.txt is pinned for 3.11 (set PYTHON=python3.11)" >&2
  exit 2
fi

started=$SECONDS
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
rm -f "$VENV"/.installed-*
# A complete lock: --no-deps keeps pip from adding what it is not pinned to (triton).
"$VENV/bin/python" -m pip install --quiet --no-deps -r "$REQUIREMENTS"
# Offline, and Ultralytics' settings file in a scratch folder rather than ~/.config.
settings="$(mktemp -d)"
YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$settings" "$VENV/bin/python" -m export.ultralytics.environment
rm -rf "$settings"
touch "$STAMP"
echo "export venv ready: $VENV ($(du -sh "$VENV" | cut -f1), $((SECONDS - started)) s)" >&2
