# The build: `make` twice does nothing the second time (a touched but unchanged patch included);
# DARKNET_SRC refuses trees that are not Debian's source of our version, with the patches applied.
source tests/lib.sh
make --no-print-directory host > "$TMPDIR/1.log" 2>&1 || fail "make failed"
touch patches/0003-cuda13.patch
make --no-print-directory host > "$TMPDIR/2.log" 2>&1 || fail "second make failed"
if grep -Eq 'applying|gcc|g\+\+|nvcc|ar rcs' "$TMPDIR/2.log"; then
    cat "$TMPDIR/2.log"; fail "a second make rebuilt something"
fi
echo "ok   second make: $(tr '\n' ' ' < "$TMPDIR/2.log")"

ver=0.0.0+git20180914.61c9d02e-2
src=build/src/darknet-src
[ -d "$src" ] || skip "no fetched source in build/src (built with DARKNET_SRC)"
scripts/check-darknet-src.sh "$src" "$ver" || fail "the fetched tree is refused"
t=$TMPDIR/tree
mkdir -p "$t"
cp -a "$src/src" "$src/Makefile" "$t/"
out=$(scripts/check-darknet-src.sh "$t" "$ver" 2>&1) && fail "a tree without debian/ was accepted"
echo "$out" | grep -q "plain upstream clone" || fail "no upstream-clone message: $out"
echo "ok   upstream-like tree refused: $(echo "$out" | head -1)"
mkdir -p "$t/debian"
sed '1s/(.*)/(0.0.0+git20180914.61c9d02e-1)/' "$src/debian/changelog" > "$t/debian/changelog"
out=$(scripts/check-darknet-src.sh "$t" "$ver" 2>&1) && fail "a tree of another version was accepted"
echo "$out" | grep -q "but patches/ were made for $ver" || fail "no version message: $out"
echo "ok   other version refused"
cp "$src/debian/changelog" "$t/debian/changelog"
sed -i 's/image_to_mat/image_to_ipl/g' "$t/src/image_opencv.cpp"
out=$(scripts/check-darknet-src.sh "$t" "$ver" 2>&1) && fail "a tree without Debian's patches was accepted"
echo "$out" | grep -q "Debian's patches are not applied" || fail "no patches message: $out"
echo "ok   unpatched tree refused"
out=$(make --no-print-directory DARKNET_SRC="$t" BUILD="$TMPDIR/b" OUTDIR="$TMPDIR/o" host 2>&1) && fail "make accepted a bad DARKNET_SRC"
echo "$out" | grep -q "DARKNET_SRC=$t" || fail "make did not say why: $out"
echo "ok   make DARKNET_SRC=<bad tree> stops: $(echo "$out" | grep -m1 DARKNET_SRC)"
