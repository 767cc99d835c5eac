#!/bin/sh
# fetch-darknet.sh DEST VERSION: unpack Debian's source package `darknet` (pjreddie's Darknet with
# Debian's patches) into DEST/darknet-src and check that it is the version our patches/ were made for.
#   DEST     folder to download into (created; the Makefile passes build/src)
#   VERSION  the Debian version our patches expect, e.g. 0.0.0+git20180914.61c9d02e-2
# Enables apt source entries first when the machine has none (scripts/enable-deb-src.sh).
set -eu
dest=$1 want=$2
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v dpkg-source >/dev/null 2>&1; then
    echo "fetch-darknet: dpkg-source is missing (package dpkg-dev); run 'make deps'" >&2
    exit 1
fi
if ! "$here/enable-deb-src.sh" --check; then
    "$here/enable-deb-src.sh"
fi
if ! apt-cache showsrc darknet 2>/dev/null | grep -q '^Package: darknet'; then
    # Source entries exist but the index may be stale or missing.
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update
fi

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
cd "$dest.tmp"
if ! apt-get source --only-source darknet; then
    echo "fetch-darknet: 'apt-get source darknet' failed; see above. A Debian tree unpacked elsewhere" >&2
    echo "  can be used instead: make DARKNET_SRC=/path/to/darknet-$want" >&2
    exit 1
fi
tree=$(find . -mindepth 1 -maxdepth 1 -type d -name 'darknet-*' | head -n 1)
got=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version 2>/dev/null || echo unknown)
if [ "$got" != "$want" ]; then
    echo "fetch-darknet: apt delivered darknet $got, but patches/ were made for $want." >&2
    echo "  Get that version (e.g. 'apt-get source darknet=$want' from a Debian snapshot) and use" >&2
    echo "  make DARKNET_SRC=/path/to/it" >&2
    exit 1
fi
mv "$tree" darknet-src
cd ..
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-darknet: Debian darknet $got unpacked in $dest/darknet-src"
