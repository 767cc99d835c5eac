#!/bin/sh
# deps.sh install|ensure PKG...: install the Debian packages among PKG that are missing.
#   install  print what is missing and install it (`make deps`)
#   ensure   the same, silent when nothing is missing (what `make` and `make test` call)
# Uses sudo when not root. Runs `apt-get update` once first when apt has no package lists yet.
set -eu
mode=$1; shift
missing=
for p in "$@"; do
    st=$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in ii*) ;; *) missing="$missing $p" ;; esac
done
if [ -z "$missing" ]; then
    [ "$mode" = install ] && echo "deps: all present:$(printf ' %s' "$@")"
    exit 0
fi
echo "deps: installing missing packages:$missing"
SUDO=
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps: not root and no sudo; install as root: apt-get install$missing" >&2
        exit 1
    fi
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
