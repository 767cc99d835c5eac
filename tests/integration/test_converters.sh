# The data converters (scripts/cifar2darknet.c, scripts/fmnist2darknet.c) write Darknet's classifier
# layout: balanced, seeded, reproducible subsets; every list path holds exactly one label name (checked
# here with awk, as Darknet's strstr would see it); PNGs of the right size, channels and pixel values,
# read alike by stb_image and by Darknet's own loader (tests/tools/png_info.c); clear errors for
# damaged inputs and unusable output folders. CIFAR-10 runs on small files in the
# binary format written here; Fashion-MNIST on the Debian package dataset-fashion-mnist (skipped when
# it is not installed), converting 200 training and the 10,000 test images (about 4 s in all; the
# full 70,000 take about 5 s more and are left out).
source tests/lib.sh
fm=$SCRIPTS_BIN/fmnist2darknet cf=$SCRIPTS_BIN/cifar2darknet png=$TOOLS/png_info
FM=${FMNIST_SRC:-/usr/share/datasets/fashion-mnist}
for p in "$fm" "$cf" "$png"; do [ -x "$p" ] || fail "$p is not built (make tools)"; done
# Relative --out from here: list paths then hold no part of $TMPDIR's random name, which could
# contain a label word by chance ("cat", "bag").
cd "$TMPDIR"

# refused NAME PATTERN CMD...: CMD must exit with status 1..125 and print PATTERN (extended regex).
refused() {
    local name=$1 pattern=$2; shift 2
    local log=$TMPDIR/refused-$name.log rc
    timeout 120 "$@" >"$log" 2>&1; rc=$?
    if [ $rc = 0 ] || [ $rc -gt 125 ]; then
        tail -n 5 "$log" >&2; fail "$name: expected an error exit, got status $rc"
    fi
    grep -Eq -- "$pattern" "$log" || { tail -n 5 "$log" >&2; fail "$name: message does not match /$pattern/"; }
    echo "ok   $name: exit $rc, $(grep -Em1 -- "$pattern" "$log")"
}

# converts LOG CMD...: CMD must succeed; its output goes to LOG, whose end is shown when it fails.
converts() {
    local log=$1 rc; shift
    timeout 120 "$@" > "$log" 2>&1 && return
    rc=$?; tail -n 5 "$log" >&2; fail "$* exited $rc"
}

# label_counts DIR LIST: every line of DIR/LIST must contain exactly one line of DIR/labels.list as
# a fixed substring (Darknet's rule); prints "label count" per label, in labels.list order.
label_counts() {
    awk 'NR == FNR { lab[++n] = $0; next }
         { m = 0; for (i = 1; i <= n; i++) if (index($0, lab[i])) { m++; k = i }
           if (m != 1) { print "matches " m " labels: " $0 > "/dev/stderr"; bad = 1 } else c[k]++ }
         END { if (bad) exit 1; for (i = 1; i <= n; i++) print lab[i], c[i] + 0 }' "$1/labels.list" "$1/$2"
}

# balanced DIR LIST N: exactly N paths of every class, 10 classes.
balanced() {
    local counts
    counts=$(label_counts "$1" "$2") || fail "$1/$2: a path does not match exactly one label"
    [ "$(echo "$counts" | wc -l)" = 10 ] || fail "$1/labels.list does not have 10 labels"
    echo "$counts" | awk -v n="$3" '$2 != n { print "class " $1 ": " $2 " images, expected " n; bad = 1 }
                                    END { exit bad }' >&2 || fail "$1/$2 is not $3 per class"
    [ "$(wc -l < "$1/$2")" = $((10 * $3)) ] || fail "$1/$2 has $(wc -l < "$1/$2") lines, expected $((10 * $3))"
}

# png_header FILE: "width height bitdepth colourtype" from the IHDR chunk, read with od (not a decoder).
png_header() {
    od -An -tu1 -j16 -N10 "$1" | awk '{ print $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8, $9, $10 }'
}

# ---- CIFAR-10: small files in the binary format ---------------------------------------------------
# Record: label byte, then 1024 red, 1024 green, 1024 blue bytes (32x32, rows top first). Here the red
# plane is all R (identifies the record), green is (32*y + x) % 256 (catches a transposed or shifted
# image), blue is all B.
printf -v green '\\%03o' {0..255}; green=$green$green$green$green
oct() { printf -v "$1" '\\%03o' "$2"; }
record() {  # LABEL R B
    local l r b; oct l "$1"; oct r "$2"; oct b "$3"
    printf "$l"; printf "$r%.0s" {1..1024}; printf "$green"; printf "$b%.0s" {1..1024}
}
names=(airplane automobile bird cat deer dog frog horse ship truck)
mkdir c10
# 5 training files of 6 records: image j (0-29) has class j % 10, red 10 + j, blue 200 + class.
for b in 1 2 3 4 5; do
    for r in 0 1 2 3 4 5; do
        j=$(( (b - 1) * 6 + r )); record $((j % 10)) $((10 + j)) $((200 + j % 10))
    done > c10/data_batch_$b.bin
done
# 10 test records: image t has class 9 - t, red 50 + t.
for t in 0 1 2 3 4 5 6 7 8 9; do record $((9 - t)) $((50 + t)) $((209 - t)); done > c10/test_batch.bin
[ "$(stat -c %s c10/data_batch_3.bin)" = $((6 * 3073)) ] || fail "test data: wrong record size"
# As in the release: one name a line; trailing blanks and empty lines must be ignored.
{ printf '%s \n' "${names[@]}"; echo; echo; } > c10/batches.meta.txt

converts cf1.log "$cf" --src c10 --out cf1 --per-class 2 --seed 1
diff <(printf '%s\n' "${names[@]}") cf1/labels.list || fail "labels.list is not batches.meta.txt's names"
balanced cf1 train.list 2
balanced cf1 valid.list 1
grep -q 'total  *20  *10' cf1.log || { cat cf1.log; fail "summary does not show 20 train, 10 test"; }
for key in classes=10 train=cf1/train.list valid=cf1/valid.list labels=cf1/labels.list backup=cf1/backup top=2; do
    grep -qx "$key" cf1/cifar-10.data || fail "cifar-10.data lacks $key"
done
[ -d cf1/backup ] || fail "no backup folder"
# Each file name carries the record's index across data_batch_1..5; its label and pixels must be that record's.
"$png" --pixel 5 3 $(cat cf1/train.list) > pixels.txt || fail "a PNG does not decode"
awk -v names="${names[*]}" 'BEGIN { split(names, lab, " ") }
    { f = $1; sub(/.*\//, "", f); j = f + 0
      want = sprintf("%05d_%s.png %d 101 %d", j, lab[j % 10 + 1], 10 + j, 200 + j % 10); got = f " " $2 " " $3 " " $4
      if (got != want || $1 !~ /^cf1\/train\//) { print "got " $0 ", expected " want; bad = 1 } }
    END { exit bad }' pixels.txt || fail "a training PNG's class or pixel (5,3) is not its record's"
[ "$(wc -l < pixels.txt)" = 20 ] || fail "expected 20 training PNGs"
# One whole image, every byte: red 10 + j, green (32*y + x) % 256, blue 200 + class, interleaved.
first=$(head -n 1 cf1/train.list); j=$(basename "$first" | sed -E 's/^0*([0-9]+)_.*/\1/')
"$png" --dump "$first" | awk -v j="$j" '{ p = int((NR - 1) / 3); k = (NR - 1) % 3
        want = k == 0 ? 10 + j : k == 1 ? p % 256 : 200 + j % 10
        if ($1 != want) { print "value " NR - 1 ": " $1 ", expected " want; bad = 1; exit } }
    END { if (NR != 3072) { print NR " values, expected 3072"; bad = 1 } exit bad }' ||
    fail "$first: pixels are not record $j's"
p=$(grep '/00003_' cf1/valid.list) || fail "test record 3 is missing from valid.list"
[ "$p" = cf1/test/00003_frog.png ] || fail "test record 3 (class 6) written as $p"
[ "$("$png" --pixel 31 31 "$p")" = "$p 53 255 206" ] || fail "$p: pixel (31,31) is '$("$png" --pixel 31 31 "$p")'"
[ "$(png_header "$p")" = "32 32 8 2" ] || fail "$p: PNG header says '$(png_header "$p")', expected 32x32 8-bit RGB"
bad=$("$png" $(cat cf1/train.list cf1/valid.list) | awk '$2 != 32 || $3 != 32 || $4 != 3') || fail "a PNG does not decode"
[ -z "$bad" ] || fail "not 32x32x3: $bad"
echo "ok   cifar: 20 train (2 per class), 10 test, labels, names, pixels and 32x32 RGB PNGs check out"

converts cf2.log "$cf" --src c10 --out cf2 --per-class 2 --seed 1
cmp -s <(sed 's|^cf1/||' cf1/train.list) <(sed 's|^cf2/||' cf2/train.list) || fail "same seed, different train.list"
converts cf3.log "$cf" --src c10 --out cf3 --per-class 2 --seed 2
balanced cf3 train.list 2
cmp -s <(sed 's|^cf1/||' cf1/train.list) <(sed 's|^cf3/||' cf3/train.list) && fail "seeds 1 and 2 chose the same images"
converts cf4.log "$cf" --src c10 --out cf4
balanced cf4 train.list 3
[ "$(ls cf4/train | wc -l)" = 30 ] || fail "cf4/train does not hold the 30 images"
echo "ok   cifar: same seed same list, another seed another list, --per-class 0 takes all 30"

cp -r c10 nometa && rm nometa/batches.meta.txt
converts cf5.log "$cf" --src nometa --out cf5 --per-class 1
grep -q "no 'nometa/batches.meta.txt': using the CIFAR-10 class names" cf5.log ||
    fail "no note on the missing batches.meta.txt"
diff <(printf '%s\n' "${names[@]}") cf5/labels.list || fail "without batches.meta.txt the fixed names are not used"
cp -r c10 clash && sed -i 's/^airplane/bobcat/' clash/batches.meta.txt
refused cifar-name-clash "'cat' is inside 'bobcat'" "$cf" --src clash --out cf6
# "png" is in every file name (00001_cat.png): only the check of each whole path can see that.
cp -r c10 pngname && sed -i 's/^truck/png/' pngname/batches.meta.txt
refused cifar-png-label "'cf11/train/00000_airplane.png' contains 'airplane', 'png', but Darknet needs exactly one" \
    "$cf" --src pngname --out cf11
cp -r c10 wrongsize && printf 'x' >> wrongsize/data_batch_3.bin
refused cifar-wrong-size "'wrongsize/data_batch_3.bin' has 18439 bytes, not a whole number of 3073-byte" \
    "$cf" --src wrongsize --out cf7
cp -r c10 badlabel && { record 10 1 1; } >> badlabel/test_batch.bin
refused cifar-label-10 "'badlabel/test_batch.bin': record 10 .*has label 10" "$cf" --src badlabel --out cf8
refused cifar-missing "'nowhere/data_batch_1.bin' not found" "$cf" --src nowhere --out cf9
grep -q 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz' "$TMPDIR/refused-cifar-missing.log" &&
    grep -q 'binary version (suitable for C programs)' "$TMPDIR/refused-cifar-missing.log" &&
    grep -q 'tar -xzf' "$TMPDIR/refused-cifar-missing.log" || fail "missing files: no download and unpack instructions"
refused cifar-too-few "class 'airplane' has only 3 training images; --per-class 4" \
    "$cf" --src c10 --out cf10 --per-class 4
refused cifar-out-label "output path 'cats/train/' contains the label name 'cat'" "$cf" --src c10 --out cats
[ -e cats ] && fail "a refused --out was created"

# ---- Fashion-MNIST ------------------------------------------------------------------------------
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -r "$FM/$f.gz" ] || skip "no $FM/$f.gz (apt-get install dataset-fashion-mnist)"
done
converts fm1.log "$fm" --src "$FM" --out fm1 --per-class 20 --seed 1
cat fm1.log
diff <(printf '%s\n' tee trouser pullover dress coat sandal shirt sneaker bag ankleboot) fm1/labels.list ||
    fail "unexpected Fashion-MNIST label names"
balanced fm1 train.list 20
balanced fm1 valid.list 1000
[ "$(ls fm1/train | wc -l)" = 200 ] || fail "fm1/train does not hold exactly 200 images"
for key in classes=10 train=fm1/train.list valid=fm1/valid.list labels=fm1/labels.list backup=fm1/backup top=2; do
    grep -qx "$key" fm1/fashion-mnist.data || fail "fashion-mnist.data lacks $key"
done
# The class in each path must be the idx label of the image the file name gives.
zcat "$FM/train-labels-idx1-ubyte.gz" | od -An -v -tu1 -w1 -j8 | tr -d ' ' > train-labels.txt
awk 'FILENAME == ARGV[1] { lab[FNR - 1] = $0; next }
     FILENAME == ARGV[2] { truth[FNR - 1] = $0; next }
     { f = $0; sub(/.*\//, "", f); i = f + 0
       if (!index(f, "_" lab[truth[i]] ".png")) { print $0 ": image " i " has label " lab[truth[i]]; bad = 1 } }
     END { exit bad }' fm1/labels.list train-labels.txt fm1/train.list || fail "a train.list path names the wrong class"
bad=$("$png" $(cat fm1/train.list) | awk '$2 != 28 || $3 != 28 || $4 != 1') || fail "a PNG does not decode"
[ -z "$bad" ] || fail "not 28x28 grayscale: $bad"
bad=$("$png" $(head -n 100 fm1/valid.list) | awk '$2 != 28 || $3 != 28 || $4 != 1') || fail "a test PNG does not decode"
[ -z "$bad" ] || fail "not 28x28 grayscale: $bad"
first=$(head -n 1 fm1/train.list)
[ "$(png_header "$first")" = "28 28 8 0" ] ||
    fail "$first: PNG header says '$(png_header "$first")', expected 28x28 8-bit gray"
# Every byte of one train and one test image equals the idx file's.
same_as_idx() {  # PNG IDXFILE: the PNG's bytes are the image of the idx file its name gives
    local i; i=$(basename "$1" | sed -E 's/^0*([0-9]+)_.*/\1/')
    cmp -s <("$png" --dump "$1") <(zcat "$2" | od -An -v -tu1 -w1 -j$((16 + i * 784)) -N784 | tr -d ' ') ||
        fail "$1: pixels differ from image $i of $2"
}
same_as_idx "$first" "$FM/train-images-idx3-ubyte.gz"
same_as_idx "$(sed -n 1234p fm1/valid.list)" "$FM/t10k-images-idx3-ubyte.gz"
echo "ok   fashion-mnist: 200 train (20 per class), 10,000 test, labels match the idx files, pixels exact"

converts fm2.log "$fm" --src "$FM" --out fm2 --per-class 20 --seed 1 --test-per-class 1
cmp -s <(sed 's|^fm1/||' fm1/train.list) <(sed 's|^fm2/||' fm2/train.list) || fail "same seed, different train.list"
balanced fm2 valid.list 1
converts fm3.log "$fm" --src "$FM" --out fm3 --per-class 20 --seed 2 --test-per-class 1
balanced fm3 train.list 20
cmp -s <(sed 's|^fm1/||' fm1/train.list) <(sed 's|^fm3/||' fm3/train.list) && fail "seeds 1 and 2 chose the same images"
echo "ok   fashion-mnist: same seed same train.list (also with another --test-per-class), another seed another"

# An absolute --out gives absolute paths (only when $TMPDIR itself holds no label word).
abs_ok=1
for l in $(cat fm1/labels.list); do case "$TMPDIR" in *"$l"*) abs_ok=0;; esac; done
if [ $abs_ok = 1 ]; then
    converts abs.log "$fm" --src "$FM" --out "$TMPDIR/abs/" --per-class 1 --test-per-class 1
    grep -qx "train=$TMPDIR/abs/train.list" abs/fashion-mnist.data ||
        fail "absolute --out: .data has $(grep train= abs/fashion-mnist.data)"
    [ "$(grep -c "^$TMPDIR/abs/train/[0-9]*_[a-z]*\.png$" abs/train.list)" = 10 ] ||
        fail "absolute --out: train.list is $(head -n 2 abs/train.list)"
    echo "ok   absolute --out: absolute paths in the lists and the .data file"
fi

refused fm-out-label "output path 'shirt/out/train/' contains the label name 'shirt'" \
    "$fm" --src "$FM" --out shirt/out --per-class 1
refused fm-out-label-abs "output path '$TMPDIR/shirt/out/train/' contains the label name .*'shirt'" \
    "$fm" --src "$FM" --out "$TMPDIR/shirt/out"
refused fm-out-label-2 "contains the label name 'bag'" "$fm" --src "$FM" --out data/my-bags
[ -e shirt ] || [ -e data ] && fail "a refused --out was created"
refused fm-out-space "contains whitespace" "$fm" --src "$FM" --out "my set"
: > afile
refused fm-out-unwritable "cannot create the output folder 'afile': it exists and is not a folder" \
    "$fm" --src "$FM" --out afile/out
if [ "$(id -u)" != 0 ]; then  # root writes anywhere: the permission case only means something for others
    mkdir ro && chmod 555 ro
    refused fm-out-readonly "cannot create the output folder 'ro/out': Permission denied" "$fm" --src "$FM" --out ro/out
fi
refused fm-missing "cannot open 'nowhere/t10k-labels-idx1-ubyte.gz': No such file" "$fm" --src nowhere --out e1
grep -q 'dataset-fashion-mnist' "$TMPDIR/refused-fm-missing.log" || fail "missing files: no hint at the package"

# Damaged inputs: a copy of the source with one file replaced.
damaged() {  # DIR: a folder with links to the four files
    mkdir "$1" && for f in "$FM"/*-ubyte.gz; do ln -s "$f" "$1/"; done
}
damaged trunc && rm trunc/t10k-images-idx3-ubyte.gz &&
    head -c 200000 "$FM/t10k-images-idx3-ubyte.gz" > trunc/t10k-images-idx3-ubyte.gz
refused fm-truncated "'trunc/t10k-images-idx3-ubyte.gz' is truncated" "$fm" --src trunc --out e2
damaged magic && rm magic/t10k-images-idx3-ubyte.gz && cp "$FM/t10k-labels-idx1-ubyte.gz" magic/t10k-images-idx3-ubyte.gz
refused fm-magic "'magic/t10k-images-idx3-ubyte.gz': magic number 0x00000801, expected 0x00000803" \
    "$fm" --src magic --out e3
damaged corrupt && rm corrupt/t10k-labels-idx1-ubyte.gz && cp "$FM/t10k-labels-idx1-ubyte.gz" corrupt/
b=$(od -An -tu1 -j2500 -N1 corrupt/t10k-labels-idx1-ubyte.gz | tr -d ' '); oct x $((b ^ 0x55))
printf "$x" | dd of=corrupt/t10k-labels-idx1-ubyte.gz bs=1 seek=2500 conv=notrunc status=none
refused fm-corrupt "'corrupt/t10k-labels-idx1-ubyte.gz' is corrupt" "$fm" --src corrupt --out e4
damaged crc && rm crc/t10k-images-idx3-ubyte.gz && cp "$FM/t10k-images-idx3-ubyte.gz" crc/
# Zero the gzip trailer's CRC-32: only the end of the stream can tell.
printf '\000\000\000\000' |
    dd of=crc/t10k-images-idx3-ubyte.gz bs=1 seek=$(( $(stat -c %s crc/t10k-images-idx3-ubyte.gz) - 8 )) conv=notrunc status=none
refused fm-crc "'crc/t10k-images-idx3-ubyte.gz' is corrupt: incorrect data check" "$fm" --src crc --out e9
# Hand-made idx files (the test split is read first, so no train files are needed).
# (one-byte counts are enough here; the header's numbers are big-endian 32-bit)
idx_labels() {  # DIR LABEL...: t10k labels
    local dir=$1 x; shift; oct x $#
    { printf "\\000\\000\\010\\001\\000\\000\\000$x"; for l; do oct x "$l"; printf "$x"; done; } | gzip > "$dir/t10k-labels-idx1-ubyte.gz"
}
idx_images() {  # DIR COUNT ROWS: t10k images, ROWS x 28, all black
    local c r; oct c "$2"; oct r "$3"
    { printf "\\000\\000\\010\\003\\000\\000\\000$c\\000\\000\\000$r\\000\\000\\000\\034"; head -c $(($2 * $3 * 28)) /dev/zero; } |
        gzip > "$1/t10k-images-idx3-ubyte.gz"
}
mkdir syn1 syn2 syn3
idx_labels syn1 0 10 1 && idx_images syn1 3 28
refused fm-label-10 "'syn1/t10k-labels-idx1-ubyte.gz': label 10 of item 1 is not a class 0-9" "$fm" --src syn1 --out e5
idx_labels syn2 0 1 2 && idx_images syn2 4 28
refused fm-count "'syn2/t10k-images-idx3-ubyte.gz' has 4 images but 'syn2/t10k-labels-idx1-ubyte.gz' has 3 labels" \
    "$fm" --src syn2 --out e6
idx_labels syn3 0 1 2 && idx_images syn3 3 27
refused fm-size "'syn3/t10k-images-idx3-ubyte.gz': images are 27x28, expected 28x28" "$fm" --src syn3 --out e7
refused fm-too-few "class 'tee' has only 6000 training images; --per-class 7000" \
    "$fm" --src "$FM" --out e8 --per-class 7000
[ -z "$(ls -d e[0-9]* 2> /dev/null)" ] || fail "refused runs left output folders: $(ls -d e[0-9]*)"
refused fm-bad-number "--per-class 12x: expected a whole number" "$fm" --per-class 12x
refused fm-unknown-option "unknown option '--sed'" "$fm" --sed 1
echo "all converter checks passed"
