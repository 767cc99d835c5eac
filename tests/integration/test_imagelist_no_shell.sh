#!/bin/bash
# Issue 4: an image path from a list file (or the command line) must never reach a shell.
#
# Stock Darknet's OpenCV loader ran system("echo <path> >> bad.list") for an unreadable image and
# went on with a blank image; the stb loader exited with status 0. patches/0004 makes an unreadable
# image one stderr line naming the path, then exit status 1, with no shell and no bad.list.
#
# Checks, for `classifier train`, `classifier valid` (list files) and `classifier predict` (path
# argument), each run from inside $TMPDIR: a path built to run a command (`;`, `$( )`, backticks,
# `&&`, `|`, quotes) creates no marker file and no bad.list, exits with status 1 and names the path
# once on stderr. Real images under such names must load as plain file names: training, validation and
# prediction on them succeed.
set -u
for tool in timeout base64; do
    command -v $tool >/dev/null || { echo "skipped: $tool is missing"; exit 77; }
done
[ -x "$DARKNET" ] || { echo "FAIL: no darknet at $DARKNET"; exit 1; }

W=$TMPDIR
cd "$W" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
dk() {  # name, darknet args...: run with a time limit, stdout/stderr in logs/<name>.{out,err}
    local name=$1; shift
    timeout -k 5 60 "$DARKNET" "$@" >"logs/$name.out" 2>"logs/$name.err" </dev/null
}
mkdir -p logs backup img

# ---- a tiny classifier and its data file -------------------------------------------------------
cat > tiny.cfg <<'EOF'
[net]
batch=2
subdivisions=1
width=8
height=8
channels=3
max_batches=2
learning_rate=0.01
momentum=0.9
decay=0.0005
policy=constant

[convolutional]
filters=2
size=3
stride=1
pad=1
activation=leaky

[avgpool]

[softmax]
EOF
# Labels are matched by strstr on the whole path: names that cannot occur in $TMPDIR (mktemp uses
# letters and digits only) or in the commands below.
printf 'lbl_alpha\nlbl_bravo\n' > labels.txt
mkdata() {  # file, list: a .data file whose train and valid lists are both `list`
    printf 'classes=2\ntrain=%s\nvalid=%s\nlabels=%s\nbackup=%s\n' "$2" "$2" "$W/labels.txt" "$W/backup" > "$1"
}

# An 8x8 RGB PNG.
base64 -d > img/plain_lbl_alpha.png <<'EOF'
iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAn0lEQVR42h2OoRECQRAERyAQiBeIEy9GIF6eRCBWIhEfwAgCePlyA0AQwkrCWEEgGwp12Kmp7gYAAgYIcCCABAr/mTwYj+LJOQXPyVacx5l2NJtkzY1hS1ovuw4EdTI16eLqoVvqXloHmD6ZU97dLfyRrvJt6Bhni0Vx83hEPDP2iteIYDbLrrx7KnLPfFd+RhprtrqqVq8t6pX1qfr+ACA0REE/G9poAAAAAElFTkSuQmCC
EOF

no_side_effects() {  # context: no marker file from any injected command, no bad.list anywhere
    local m
    m=$(find "$W" \( -name 'pwned*' -o -name bad.list \) -print -delete)
    [ -z "$m" ] || fail "$1: a shell ran or bad.list was written: found" $m
}

dk ops ops tiny.cfg
[ $? = 0 ] && grep -q 'Floating Point Operations' logs/ops.out \
    || { cat logs/ops.out logs/ops.err; echo "FAIL: tiny.cfg does not parse"; exit 1; }

# ---- real images under weird names load as plain file names -------------------------------------
weird=(
    "img/lbl_alpha with  spaces.png"
    "img/lbl_bravo 'single' quotes.png"
    "img/lbl_alpha \"double\" quotes.png"
    "img/lbl_bravo; touch pwned_ok1.png"
    "img/lbl_alpha \$(touch pwned_ok2).png"
    "img/lbl_bravo \`touch pwned_ok3\`.png"
    "img/lbl_alpha && touch pwned_ok4 | cat > x < y * ? ~ \\ #.png"
)
: > good.list
for f in "${weird[@]}"; do
    cp img/plain_lbl_alpha.png "$W/$f" || { fail "cannot create \"$f\""; continue; }
    printf '%s\n' "$W/$f" >> good.list
done
mkdata good.data "$W/good.list"

dk good-train classifier train good.data tiny.cfg; rc=$?
[ $rc = 0 ] || fail "train on weird but valid names: exit $rc (want 0)"
grep -q 'Cannot load image' logs/good-train.err && fail "train on weird but valid names: an image did not load"
grep -q 'Too many or too few labels' logs/good-train.out logs/good-train.err \
    && fail "train on weird but valid names: a path did not match exactly one label"
[ -s backup/tiny.weights ] || fail "train on weird but valid names: no backup/tiny.weights"
dk good-valid classifier valid good.data tiny.cfg backup/tiny.weights; rc=$?
[ $rc = 0 ] || fail "valid on weird but valid names: exit $rc (want 0)"
[ "$(grep -c 'top 1:' logs/good-valid.out)" = ${#weird[@]} ] \
    || fail "valid on weird but valid names: not every image was classified"
dk good-predict classifier predict good.data tiny.cfg backup/tiny.weights "$W/${weird[4]}"; rc=$?
[ $rc = 0 ] || fail "predict on \"${weird[4]}\": exit $rc (want 0)"
no_side_effects "weird but valid names"
[ $fails = 0 ] || { tail -n 5 logs/good-*.err; }

# ---- paths built to run a command: none exists -------------------------------------------------
# The injected commands use relative names: they would run in the cwd, $TMPDIR.
evil=(
    "$W/nope.png; touch pwned1"
    "$W/\$(touch pwned2).png"
    "$W/\`touch pwned3\`.png"
    "$W/nope.png && touch pwned4"
    "$W/nope.png | touch pwned5"
    "$W/nope'.png'; touch pwned6 #"
    "$W/\"; touch pwned7; \".png"
    "$W/\$(touch pwned8)"
)
expect_refused() {  # name, path: the run was refused with status 1, the path named, no shell
    local name=$1 path=$2 rc=$3
    [ $rc = 1 ] || fail "$name: exit $rc (want 1)"
    grep -qF -- "Cannot load image \"$path\"" "logs/$name.err" \
        || { fail "$name: stderr does not name the path"; sed 's/^/      /' "logs/$name.err" | tail -n 3; }
    [ "$(grep -c 'Cannot load image' "logs/$name.err")" -le 1 ] || fail "$name: reported more than once"
    no_side_effects "$name"
}
for i in "${!evil[@]}"; do
    p=${evil[$i]}
    printf '%s\n' "$p" > evil$i.list
    mkdata evil$i.data "$W/evil$i.list"
    echo "case $i: $p"
    dk evil$i-train classifier train evil$i.data tiny.cfg;          expect_refused evil$i-train "$p" $?
    dk evil$i-valid classifier valid evil$i.data tiny.cfg "";       expect_refused evil$i-valid "$p" $?
    dk evil$i-predict classifier predict good.data tiny.cfg "" "$p"; expect_refused evil$i-predict "$p" $?
done

# A list line that names no file at all after a good one: training stops at it too.
printf '%s\n' "$W/img/plain_lbl_alpha.png" "$W/lbl_bravo missing.png" > mixed.list
mkdata mixed.data "$W/mixed.list"
dk mixed-valid classifier valid mixed.data tiny.cfg ""
expect_refused mixed-valid "$W/lbl_bravo missing.png" $?
[ "$(grep -c 'top 1:' logs/mixed-valid.out)" = 1 ] || fail "mixed-valid: want exactly the good image before the bad one classified"

[ $fails = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
