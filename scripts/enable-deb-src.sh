#!/bin/sh
# enable-deb-src.sh: give apt the source ("deb-src") entries that `apt-get source darknet` needs.
#
# Derives them from the machine's own binary ("deb") entries: same mirrors, suites and components,
# in a file of its own, so that no mirror's host name is ever written into this repository and the
# user's own apt files are left untouched. Does nothing when apt already has a source entry.
# Usage: scripts/enable-deb-src.sh [--check]   (--check: exit 0 if source entries exist, 1 if not)
set -eu

OUT=/etc/apt/sources.list.d/siamese-darknet-deb-src.sources

have_src() {
    # One-line format ("deb-src URI suite comp...") and deb822 format ("Types: deb deb-src").
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk 'BEGIN{IGNORECASE=1} /^[[:space:]]*Enabled:[[:space:]]*no/{off=1}
             /^[[:space:]]*$/{ if (src && !off) found=1; src=0; off=0 }
             /^Types:.*deb-src/{src=1}
             END{ if (src && !off) found=1; exit !found }' "$f" && return 0
    done
    return 1
}

if have_src; then
    [ "${1:-}" = --check ] && exit 0
    echo "enable-deb-src: apt already has source entries"
    exit 0
fi
[ "${1:-}" = --check ] && exit 1

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# One-line entries: "deb [opts] URI suite comp..." -> one deb822 stanza each.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '/^[[:space:]]*deb[[:space:]]/ {
            i = 2; opts = ""
            if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
            uri = $i; suite = $(i+1); comps = ""
            for (j = i+2; j <= NF; j++) comps = comps " " $j
            gsub(/[\[\]]/, "", opts)
            signed = ""
            n = split(opts, o, " ")
            for (k = 1; k <= n; k++) if (o[k] ~ /^signed-by=/) { sub(/^signed-by=/, "", o[k]); signed = o[k] }
            printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:%s\n", uri, suite, comps
            if (signed != "") printf "Signed-By: %s\n", signed
            printf "\n"
         }' "$f" >> "$tmp"
done
# deb822 stanzas with "Types: deb": copy the stanza with the type changed; skip disabled ones.
for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'function flush() { if (isdeb && !off && body != "") printf "Types: deb-src\n%s\n", body; body = ""; isdeb = 0; off = 0 }
         /^[[:space:]]*#/ { next }
         /^[[:space:]]*$/ { flush(); next }
         tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1; next }
         tolower($1) == "enabled:" && tolower($2) == "no" { off = 1 }
         { body = body $0 "\n" }
         END { flush() }' "$f" >> "$tmp"
done

if [ ! -s "$tmp" ]; then
    echo "enable-deb-src: found no 'deb' entries in /etc/apt to derive source entries from;" >&2
    echo "  add a deb-src line for your distribution's archive, or use make DARKNET_SRC=/path/to/darknet-source" >&2
    exit 1
fi
echo "enable-deb-src: writing $OUT (derived from this machine's binary entries):"
sed 's/^/    /' "$tmp"
$SUDO install -m 0644 "$tmp" "$OUT"
$SUDO apt-get update
