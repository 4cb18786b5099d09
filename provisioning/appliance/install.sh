#!/usr/bin/env bash
# provisioning/appliance/install.sh: install Sohoa on an appliance running Raspberry Pi OS or
# Debian 12 (bookworm). It installs the Debian packages, the users and group, the folders with
# their owners and modes, the venv in /opt/sohoa/venv with the project in it, a console font
# with Vietnamese letters, and the systemd units beside this script (the sync agent, the kiosk,
# the daily certificate renewal and the restart that follows one). docs/install-appliance.md
# walks through the whole install.
#
# It is idempotent. A second run finds everything in place and changes nothing: each change it
# makes is printed as a "+ command" line, and a second run prints none (the venv step aside,
# which runs pip whenever a SOURCE is given). Run it again after `sohoa edge enroll`: it then
# gives the files enrollment wrote their owners and modes, and enables the kiosk.
#
#   install.sh [--root DIR] [--dry-run] [SOURCE]
#
# SOURCE is the project's folder or a wheel (sohoa-*.whl), pip-installed into the venv.
# Without it the venv is left as it is.
# --root DIR installs into DIR instead of /. It skips what only makes sense on the running
#   appliance: apt, the users, owners (chown), the venv and systemctl. Modes are still set.
#   This lets tests, and an image build, run it unprivileged.
# --dry-run prints the commands a run would make and changes nothing.
set -euo pipefail

readonly DATA_DIR=/var/lib/sohoa/edge      # the units' ReadWritePaths= and SOHOA_EDGE_DATA_DIR
readonly CONFIG_DIR=/etc/sohoa
readonly CONFIG_FILE=$CONFIG_DIR/edge.toml # written by `sohoa edge enroll`
readonly TRANSPORT_KEY=$CONFIG_DIR/transport-key.pem
readonly VENV=/opt/sohoa/venv
readonly UNIT_DIR=/etc/systemd/system
readonly GROUP=sohoa
readonly KIOSK_USER=sohoa-kiosk
readonly SYNC_USER=sohoa-sync
readonly UNITS=(sohoa-sync.service sohoa-kiosk.service sohoa-renew.service sohoa-renew.timer
  sohoa-certificates.path sohoa-sync-restart.service)
readonly SERVICES=(sohoa-sync.service sohoa-kiosk.service)

# The appliance's share of scripts/debian-packages.txt (no server, broker, database or browser
# there), plus what building the venv needs on the appliance.
readonly PACKAGES=(
  python3 python3-venv python3-dev
  gcc libc6-dev pkg-config libsane-dev # python-sane has no aarch64 wheel: it builds from source
  tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd
  sane-utils
  opensc pcscd     # USB tokens and smart cards that OpenSC supports (opensc-pkcs11.so)
  softhsm2         # a software token, to try the appliance without a USB token
  fonts-noto-core  # NotoSerif: the visible signature box (edge/signing/box_text.py)
  icc-profiles-free # the sRGB profile of the PDF/A output intent (edge/pdf/xmp.py)
  openssl
  console-setup    # the console font with every Vietnamese letter, for the kiosk on tty1
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=""
dry_run=0
source_arg=""
changed=0 # units or venv changed: running services are restarted at the end

say() { printf 'install: %s\n' "$*"; }
die() {
  printf 'install: error: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,/^set -euo/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Print a change as "+ command", then make it (unless --dry-run).
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [ "$dry_run" -eq 0 ]; then "$@"; fi
}

while [ $# -gt 0 ]; do
  case $1 in
    --root)
      [ $# -ge 2 ] || die "--root needs a folder"
      root=$2
      shift 2
      ;;
    --root=*)
      root=${1#--root=}
      shift
      ;;
    --dry-run)
      dry_run=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      [ -z "$source_arg" ] || die "one SOURCE only (got '$source_arg' and '$1')"
      source_arg=$1
      shift
      ;;
  esac
done

if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a folder"
  R=$(cd "$root" && pwd)
  [ "$R" != / ] || R=""
else
  R=""
fi
if [ -n "$source_arg" ]; then
  # A venv records its own path in its scripts: one built under DIR would not run from /.
  [ -z "$R" ] || die "--root and SOURCE together: a venv cannot be moved, build it on the appliance"
  if [ -d "$source_arg" ]; then
    [ -f "$source_arg/pyproject.toml" ] ||
      die "$source_arg has no pyproject.toml: give the project's folder"
  else
    case $source_arg in
      *.whl) [ -f "$source_arg" ] || die "no such wheel: $source_arg" ;;
      *) die "SOURCE must be the project's folder or a .whl file (got '$source_arg')" ;;
    esac
  fi
  source_arg=$(cd "$(dirname "$source_arg")" && pwd)/$(basename "$source_arg")
fi
if [ -z "$R" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or with --root DIR or --dry-run"
fi
for unit in "${UNITS[@]}"; do
  [ -f "$here/$unit" ] || die "$unit is not beside this script in $here"
done

# Give PATH (a path on the appliance) OWNER:GROUP and MODE (octal digits, e.g. 750 or 2770),
# touching only what differs. Under --root owners are left alone: the users exist only on the
# appliance. The note says what the owner would be.
set_owner_mode() {
  local path=$1 owner=$2 group=$3 mode=$4 target=$R$1
  if [ -n "$R" ]; then
    say "--root: owner of $path not set (on the appliance: $owner:$group)"
  elif [ ! -e "$target" ] || [ "$(stat -c %U:%G "$target")" != "$owner:$group" ]; then
    run chown "$owner:$group" "$target"
  fi
  if [ ! -e "$target" ] || [ "$(stat -c %a "$target")" != "$mode" ]; then
    # Five digits: GNU chmod keeps a folder's setgid bit under a shorter numeric mode.
    run chmod "$(printf '%05d' "$mode")" "$target"
  fi
}

ensure_dir() {
  [ -d "$R$1" ] || run mkdir -p "$R$1"
  set_owner_mode "$@"
}

# Copy SRC to DEST (a path on the appliance) unless it is already there, byte for byte.
install_file() {
  local src=$1 dest=$2 mode=$3
  if ! cmp -s "$src" "$R$dest"; then
    run install -m "$mode" "$src" "$R$dest"
    changed=1
  fi
  set_owner_mode "$dest" root root "$mode"
}

# 1. Debian packages: only the missing ones.
install_packages() {
  if [ -n "$R" ]; then
    say "--root: Debian packages not installed (${PACKAGES[*]})"
    return
  fi
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" = "install ok installed" ] ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# 2. The group and the two service users: no password, no login shell, no home.
ensure_user() {
  local user=$1 comment=$2 group
  shift 2
  if ! getent passwd "$user" >/dev/null; then
    run useradd --system --gid "$GROUP" --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "$comment" "$user"
  else
    [ "$(id -gn "$user")" = "$GROUP" ] || run usermod --gid "$GROUP" "$user"
    [ "$(getent passwd "$user" | cut -d: -f7)" = /usr/sbin/nologin ] ||
      run usermod --shell /usr/sbin/nologin "$user"
    [ "$(passwd -S "$user" | cut -d' ' -f2)" = L ] || run usermod --lock "$user"
  fi
  # The device groups it needs, where the packages made them.
  for group in "$@"; do
    getent group "$group" >/dev/null || continue
    id -nG "$user" 2>/dev/null | tr ' ' '\n' | grep -qx "$group" ||
      run usermod --append --groups "$group" "$user"
  done
}

ensure_users() {
  if [ -n "$R" ]; then
    say "--root: users not made (on the appliance: group $GROUP, users $KIOSK_USER and $SYNC_USER)"
    return
  fi
  getent group "$GROUP" >/dev/null || run groupadd --system "$GROUP"
  ensure_user "$KIOSK_USER" "Sohoa kiosk" scanner video plugdev softhsm
  # softhsm: the heartbeat's token probe, when the token is SoftHSM2's.
  ensure_user "$SYNC_USER" "Sohoa sync agent" softhsm
}

# 3. Folders and the files enrollment wrote.
#   /etc/sohoa 0750 root:sohoa: both services read edge.toml; nobody else lists the folder.
#     The transport key lies in it, 0600 and owned by sohoa-sync: only the sync agent reads it,
#     though the kiosk may still stat it (edge/config.py refuses a key that others can read).
#   /var/lib/sohoa/edge 2770 root:sohoa: the outbox that the kiosk fills and the agent empties.
#     Both users write there. The setgid bit gives whatever is made inside it the group sohoa.
ensure_layout() {
  ensure_dir "$CONFIG_DIR" root "$GROUP" 750
  ensure_dir /var/lib/sohoa root "$GROUP" 750
  ensure_dir "$DATA_DIR" root "$GROUP" 2770
  ensure_dir /opt/sohoa root root 755
  ensure_dir "$UNIT_DIR" root root 755
  if [ -f "$R$CONFIG_FILE" ]; then
    set_owner_mode "$CONFIG_FILE" root "$GROUP" 640
  fi
  if [ -f "$R$TRANSPORT_KEY" ]; then
    set_owner_mode "$TRANSPORT_KEY" "$SYNC_USER" "$GROUP" 600
  fi
}

# 4. The venv and the project in it, when a SOURCE is given. pip reinstalls a project folder
# every time. A wheel of the version already installed is skipped, so it is forced in
# (--no-deps: the first pip call already brought the dependencies).
install_venv() {
  if [ -z "$source_arg" ]; then
    if [ -n "$R" ]; then
      say "--root: no venv in $VENV (build it on the appliance with SOURCE)"
    elif [ ! -x "$VENV/bin/sohoa" ]; then
      say "warning: no $VENV/bin/sohoa yet: run again with the project's folder or a wheel"
    fi
    return
  fi
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "Python 3.11 or newer is needed (Raspberry Pi OS bookworm has it)"
  [ -x "$VENV/bin/python" ] || run python3 -m venv "$VENV"
  run "$VENV/bin/pip" install --quiet "$source_arg"
  case $source_arg in
    *.whl) run "$VENV/bin/pip" install --quiet --no-deps --force-reinstall "$source_arg" ;;
  esac
  changed=1
}

# 5. The console font. The Linux console holds at most 512 glyphs. Of console-setup's fonts,
# Vietnamese Fixed 8x16 has every Vietnamese letter and the box-drawing lines the kiosk draws
# (not the half-blocks of its page thumbnails). console-setup applies it at boot.
console_font() {
  local conf=/etc/default/console-setup kv key value font_changed=0
  if [ ! -f "$R$conf" ]; then
    say "no $conf: console font left as it is"
    return
  fi
  for kv in CODESET=Vietnamese FONTFACE=Fixed FONTSIZE=8x16; do
    key=${kv%%=*}
    value=${kv#*=}
    grep -qx "$key=\"$value\"" "$R$conf" && continue
    if grep -q "^$key=" "$R$conf"; then
      run sed -i "s/^$key=.*/$key=\"$value\"/" "$R$conf"
    else
      run sed -i "\$a $key=\"$value\"" "$R$conf"
    fi
    font_changed=1
  done
  # The font that the early boot loads is cached; make that cache again.
  if [ "$font_changed" -eq 1 ] && [ -z "$R" ] && command -v setupcon >/dev/null; then
    run setupcon --save-only
  fi
}

# 6. The units. The sync agent is enabled at once: before enrollment its condition
# (/etc/sohoa/edge.toml) keeps it from starting. The kiosk is enabled only once edge.toml is
# there. It takes tty1 from getty (Conflicts=) before its own condition is checked, so enabled
# earlier it would leave tty1 blank at every boot until enrollment.
install_units() {
  local unit
  for unit in "${UNITS[@]}"; do
    install_file "$here/$unit" "$UNIT_DIR/$unit" 644
  done
  if [ -n "$R" ]; then
    say "--root: systemctl not run (on the appliance: daemon-reload, enable sohoa-sync.service,"
    say "        sohoa-renew.timer, sohoa-certificates.path,"
    say "        and sohoa-kiosk.service once $CONFIG_FILE is there)"
    return
  fi
  if [ -d /run/systemd/system ]; then
    [ "$changed" -eq 0 ] || run systemctl daemon-reload
  else
    say "systemd is not running here: no daemon-reload"
  fi
  local enabled
  for enabled in sohoa-sync.service sohoa-renew.timer sohoa-certificates.path; do
    systemctl is-enabled --quiet "$enabled" 2>/dev/null || run systemctl enable "$enabled"
  done
  if [ -f "$CONFIG_FILE" ]; then
    systemctl is-enabled --quiet sohoa-kiosk.service 2>/dev/null ||
      run systemctl enable sohoa-kiosk.service
    if [ "$changed" -eq 1 ] && [ -d /run/systemd/system ]; then
      # New code or units: restart what runs (what does not run stays stopped).
      run systemctl try-restart "${SERVICES[@]}"
    fi
  fi
}

next_steps() {
  [ -z "$R" ] || return 0
  if [ ! -f "$CONFIG_FILE" ]; then
    say "next: plug the token, run as root"
    say "      sohoa edge enroll --server URL --code CODE --config $CONFIG_FILE"
    say "      then run this script again (docs/install-appliance.md)"
  else
    say "next: systemctl start ${SERVICES[*]} sohoa-renew.timer sohoa-certificates.path"
    say "      (the kiosk takes tty1: run it over ssh or on tty2), or reboot"
  fi
}

[ "$dry_run" -eq 0 ] || say "dry run: nothing will be changed"
install_packages
ensure_users
ensure_layout
install_venv
console_font
install_units
next_steps
