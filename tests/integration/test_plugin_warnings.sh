# Plugin code compiles warning-free with -Wall -Wextra (as errors here), also under GPU's defines.
source tests/lib.sh
for f in plugin/*.c; do
    gcc -std=gnu11 -O2 -Wall -Wextra -Werror -fno-fast-math -Ibuild/darknet/include -Ibuild/darknet/src \
        -Iplugin -c "$f" -o "$TMPDIR/x.o" || fail "$f has warnings"
done
echo "ok   $(ls plugin/*.c | wc -l) plugin files, no warnings"
