#!/usr/bin/env bash
# Set up everything Sohoa needs, idempotently: Debian packages, a venv in .venv, the project in it.
# A second run checks and skips; it touches apt or pip only when something is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.sohoa-install-stamp"
python=${PYTHON:-python3}

die() { echo "setup: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run '$*': run as root or install sudo"; fi
}

# 1. Debian packages: ask dpkg which are missing, install only those.
mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}) and no apt-get: install them by hand"
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq || die "apt-get update failed: check the package mirror is reachable"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed: see the output above"
fi

# 2. The venv and the project in it, redone only when pyproject.toml changes.
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed ($python is older)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || die "could not create $venv: is python3-venv installed?"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$want" != "$have" ] || [ ! -x "$venv/bin/sohoa" ]; then
  echo "setup: installing the project into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -e '.[dev]' || die "pip install failed: see the output above"
  echo "$want" > "$stamp"
fi
