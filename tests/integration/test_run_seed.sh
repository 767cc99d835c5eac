# Patch 0020: [net] seed= and -seed make `classifier train` reproducible. With augmentation on
# (crop scale, angle, aspect, hue, saturation, exposure, flip), dropout, 32 loader threads and a
# [siamese] layer without seed=, two runs with the same seed write byte-identical weights; another
# seed gives other weights; -seed replaces [net] seed=; runs without a seed still differ; a bad
# -seed is refused. (Bad [net] seed= values: test_bad_inputs.sh.)
source tests/lib.sh
cd "$TMPDIR"
make_tiny_dataset ds

aug='min_crop=16
max_crop=20
angle=10
aspect=1.2
hue=0.1
saturation=1.5
exposure=1.5
max_batches=20'

cat > base.cfg <<CFG
[net]
batch=32
subdivisions=2
width=16
height=16
channels=3
learning_rate=0.05
momentum=0.9
decay=0.0005
$aug
seed=7

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[dropout]
probability=0.2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[avgpool]

[connected]
output=3
activation=linear

[softmax]
CFG
# The Siamese test cfg (dropout in branch B) with the same augmentation and a run seed; its
# [siamese] seed= removed, so the layer derives its seed from the run's.
sed -e '/^max_crop=/d' -e '/^min_crop=/d' -e '/^max_batches=/d' -e '/^seed=/d' \
    -e "s/^\[net\]/[net]\nseed=7\n${aug//$'\n'/\\n}/" "$ROOT/tests/data/tiny-siamese.cfg" > sia.cfg
grep -q '^seed=7' sia.cfg && [ "$(grep -c '^seed=' sia.cfg)" = 1 ] || fail "could not write sia.cfg"

# train NAME CFG [ARGS...]: `classifier train`, the final weights copied to NAME.weights
train() {
    local name=$1 cfg=$2; shift 2
    run_dn "$name.log" classifier train ds/tiny.data "$cfg" "$@" || { tail -n 3 "$name.log"; fail "$name: classifier train exited $?"; }
    grep -Eq '^20, ' "$name.log" || fail "$name: did not train 20 batches"
    cp "ds/backup/$(basename "$cfg" .cfg).weights" "$name.weights"
}
same() { cmp -s "$1.weights" "$2.weights" || fail "$3: $1 and $2 differ ($(cmp "$1.weights" "$2.weights" | head -n1))"; echo "ok   $3"; }
differ() { cmp -s "$1.weights" "$2.weights" && fail "$3: $1 and $2 are identical"; echo "ok   $3"; }

train a base.cfg
sleep 1.1   # train_classifier still calls srand(time(0)): a draw left on rand() would show
train b base.cfg
grep -q '^seed 7$' a.log || fail "the log does not say the run is seeded"
same a b "baseline, [net] seed=7 twice: identical weights ($(stat -c %s a.weights) bytes)"
train c base.cfg -seed 8
differ a c "baseline, -seed 8: other weights"
grep -q '^seed 8 (-seed)$' c.log || fail "the log does not say -seed replaced the cfg's seed"
sed 's/^seed=7/seed=8/' base.cfg > base8.cfg
train d base8.cfg
same c d "-seed 8 == [net] seed=8"
sed 's/^seed=7/seed=1/' base.cfg > base1.cfg
train e base1.cfg -seed 7
same a e "[net] seed=1 with -seed 7 == seed=7: the flag wins"
grep -v '^seed=' base.cfg > noseed.cfg
train f noseed.cfg -seed 7
same a f "a cfg without seed= and -seed 7 == seed=7"
# Without a seed Darknet seeds rand() from the clock (time(0)): a second apart, runs differ.
train g noseed.cfg
sleep 1.1
train h noseed.cfg
grep -q '^seed ' g.log && fail "an unseeded run says it is seeded"
differ g h "no seed: two runs differ, as before"

train s1 sia.cfg
train s2 sia.cfg
same s1 s2 "Siamese, [net] seed=7 twice: identical weights"
line() { grep -m1 -E '^ +[0-9]+ siamese ' "$1.log" | grep -oE 'seed [0-9]+( \([^)]*\))?'; }
l1=$(line s1); l2=$(line s2)
[ "$l1" = "$l2" ] || fail "[siamese] seeds differ between seeded runs: $l1 / $l2"
case "$l1" in *"(from the run's seed)") ;; *) fail "[siamese] without seed= does not take the run's seed: $l1";; esac
train s3 sia.cfg -seed 8
differ s1 s3 "Siamese, -seed 8: other weights"
[ "$(line s3)" != "$l1" ] || fail "[siamese] seed did not change with -seed 8"
echo "ok   [siamese] $l1; with -seed 8: $(line s3)"

# Bad -seed values: a message naming the flag, exit status 1.
for v in x -1 1.5 99999999999 ''; do
    run_dn "bad.log" classifier train ds/tiny.data base.cfg -seed "$v"; rc=$?
    [ $rc = 1 ] || { tail -n 3 bad.log; fail "-seed '$v': exit status $rc, not 1"; }
    grep -q -- "-seed $v: must be an integer in \[0, 2147483647\]" bad.log || { tail -n 3 bad.log; fail "-seed '$v': no clear message"; }
done
run_dn "bad.log" classifier train ds/tiny.data base.cfg -seed; rc=$?
[ $rc = 1 ] && grep -q -- "-seed: no value" bad.log || { tail -n 3 bad.log; fail "-seed without a value: exit $rc"; }
echo "ok   -seed x, -1, 1.5, 99999999999, '' and no value: refused with exit status 1"
