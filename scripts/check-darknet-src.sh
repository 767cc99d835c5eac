#!/bin/sh
# check-darknet-src.sh DIR VERSION: is DIR an unpacked Debian `darknet` source tree of VERSION,
# with Debian's patches applied? Used for `make DARKNET_SRC=DIR`. Exit 0 if yes, else say why.
set -eu
dir=$1 want=$2
if [ ! -f "$dir/src/parser.c" ] || [ ! -f "$dir/Makefile" ]; then
    echo "DARKNET_SRC=$dir: not a Darknet source tree (no src/parser.c or Makefile)" >&2
    exit 1
fi
if [ ! -f "$dir/debian/changelog" ]; then
    echo "DARKNET_SRC=$dir: no debian/changelog: this looks like a plain upstream clone." >&2
    echo "  It lacks Debian's patches (OpenCV 4 port, use-after-free fix) that our patches/ build on." >&2
    echo "  Use 'apt-get source darknet' (or just 'make' without DARKNET_SRC)." >&2
    exit 1
fi
got=$(dpkg-parsechangelog -l "$dir/debian/changelog" -S Version 2>/dev/null \
      || sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$dir/debian/changelog")
if [ "$got" != "$want" ]; then
    echo "DARKNET_SRC=$dir: Debian version $got, but patches/ were made for $want" >&2
    exit 1
fi
# Debian's OpenCV 4 port (its patch 0003) replaced IplImage with cv::Mat; an unpatched tree has none.
if ! grep -q 'image_to_mat' "$dir/src/image_opencv.cpp"; then
    echo "DARKNET_SRC=$dir: Debian's patches are not applied (no OpenCV 4 port in src/image_opencv.cpp);" >&2
    echo "  unpack it with 'dpkg-source -x darknet_$want.dsc', which applies them" >&2
    exit 1
fi
