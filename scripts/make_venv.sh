#!/usr/bin/env bash
# Create the project's virtual environment; on Debian/Ubuntu the venv module may need python3-venv.
set -euo pipefail
python=${1:-python3}; venv=${2:-.venv}
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "python${ver}-venv" >/dev/null || apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  else
    echo "cannot create a virtual environment: install python${ver}-venv (sudo apt-get install python${ver}-venv)" >&2
    exit 1
  fi
fi
