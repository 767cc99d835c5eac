# The hook: a stock cfg parses; an unknown section is a hard error naming it and the file;
# every bad [branch]/[siamese] input gives a message naming file, layer and key, exit status 1.
source tests/lib.sh
run_dn "$TMPDIR/ops.log" ops build/darknet/cfg/tiny.cfg || fail "ops on cfg/tiny.cfg"
grep -q "Floating Point Operations" "$TMPDIR/ops.log" || fail "ops printed no FLOPs"
echo "ok   stock cfg/tiny.cfg parses"
for f in cfg/*.cfg; do
    run_dn "$TMPDIR/ops.log" ops "$f" || { tail -n 3 "$TMPDIR/ops.log"; fail "our $f does not parse"; }
done
echo "ok   our cfg/*.cfg parse"

head=$TINY_NET
conv=$TINY_CONV
n=0
bad() {  # bad NAME PATTERN CFG-TEXT
    n=$((n+1))
    local f=$TMPDIR/bad-$1.cfg
    printf '%s' "$3" > "$f"
    expect_error "$1" "$2" ops "$f"
    grep -Fq "$f" "$TMPDIR/err-$1.log" || fail "$1: message does not name the cfg file"
}
bad bogus        'unknown section \[bogus\] \(layer 1\)' "$head$conv[bogus]
x=1
"
bad no-branch    'layer 1 \[siamese\]: no open \[branch\]' "$head$conv[siamese]
"
bad empty-a      'layer 0 \[branch\]: .*cannot be the first layer' "$head[branch]
$conv[siamese]
"
bad empty-b      'layer 2 \[siamese\]: the \[branch\] at layer 1 leaves branch B empty' "$head$conv[branch]
[siamese]
"
bad unclosed     'layer 1 \[branch\]: no \[siamese\] after it' "$head$conv[branch]
$conv"
bad forward-idx  'layer 3 \[siamese\]: layers=0,5: layer 5 is not an earlier layer' "$head$conv[branch]
$conv[siamese]
layers=0,5
"
bad neg-idx      'layers=-9,-1: layer -6 is not an earlier layer' "$head$conv[branch]
$conv[siamese]
layers=-9,-1
"
bad one-idx      'layers=0: needs two layers' "$head$conv[branch]
$conv[siamese]
layers=0
"
bad idx-nan      'layers=0,x: not an integer' "$head$conv[branch]
$conv[siamese]
layers=0,x
"
bad shapes       'branch outputs differ: layer 0 is 8 x 8 x 4 .*layer 3 is 4 x 4 x 4' "$head$conv[branch]
$conv[maxpool]
size=2
stride=2
[siamese]
"
bad alpha-zero   'layer 3 \[siamese\]: alpha=0: must be > 0' "$head$conv[branch]
$conv[siamese]
alpha=0
"
bad alpha-nan    'alpha=abc: not a number' "$head$conv[branch]
$conv[siamese]
alpha=abc
"
bad alpha-inf    'alpha=inf: not a finite float' "$head$conv[branch]
$conv[siamese]
alpha=inf
"
bad beta-neg     'beta=-1: must be > 0' "$head$conv[branch]
$conv[siamese]
beta=-1
"
bad test-lambda  'test_lambda=1.5: must be in \[0,1\]' "$head$conv[branch]
$conv[siamese]
test_lambda=1.5
"
bad mode         'mode=often: unknown value; expected one of: batch, sample' "$head$conv[branch]
$conv[siamese]
mode=often
"
bad pairing      'pairing=twins: unknown value; expected one of: shuffle, same, other, self' "$head$conv[branch]
$conv[siamese]
pairing=twins
"
bad unknown-key  'alhpa=0.2: unknown key for \[siamese\]' "$head$conv[branch]
$conv[siamese]
alhpa=0.2
"
bad branch-key   'layer 1 \[branch\]: form=0: unknown key for \[branch\]' "$head$conv[branch]
form=0
$conv[siamese]
"
bad branch-from  'layer 1 \[branch\]: from=4: layer 4 is not an earlier layer' "$head$conv[branch]
from=4
$conv[siamese]
"
bad seed-neg     'seed=-3: must be >= 0' "$head$conv[branch]
$conv[siamese]
seed=-3
"
bad tree         'tree softmax' "$head$conv[branch]
$conv[siamese]
[connected]
output=9418
[softmax]
tree=$PWD/build/darknet/data/9k.tree
"
bad mixup-prob    'layer 0 \[mixup\]: prob=1.5: must be in \[0,1\]' "$head[mixup]
prob=1.5
$conv"
bad mixup-stop    'layer 0 \[mixup\]: stop=-0.1: must be in \[0,1\]' "$head[mixup]
stop=-0.1
$conv"
long=$(printf 'g%.0s' $(seq 70))
bad mixup-group   "layer 0 \\[mixup\\]: group=$long: needs a name of 1-63 characters" "$head[mixup]
group=$long
$conv"
bad mixup-key     'layer 0 \[mixup\]: test_lambda=0.5: unknown key for \[mixup\]' "$head[mixup]
test_lambda=0.5
$conv"
bad cutmix-alpha  'layer 1 \[cutmix\]: alpha=-2: must be > 0' "$head$conv[cutmix]
alpha=-2
"
bad cutmix-flat   'layer 0 \[cutmix\]: its input must be an image' '[net]
batch=2
inputs=10
[cutmix]
[connected]
output=2
'
bad cutmix-mode   'layer 0 \[cutmix\]: mode=pixel: unknown value' "$head[cutmix]
mode=pixel
$conv"
bad siamese-seed  'layer 3 \[siamese\]: seed=-1: must be >= 0' "$head$conv[branch]
$conv[siamese]
seed=-1
"
bad siamese-prob  'layer 3 \[siamese\]: prob=x: not a number' "$head$conv[branch]
$conv[siamese]
prob=x
"
bad mix-in-branch 'layer 4 \[siamese\]: layer 0 \[mixup\] mixes the labels inside only one branch' "$head[mixup]
$conv[branch]
$conv[siamese]
"
bad cut-in-b      'layer 4 \[siamese\]: layer 3 \[cutmix\] mixes the labels inside only one branch' "$head$conv[branch]
$conv[cutmix]
[siamese]
"
# Generic keys Darknet reads for every layer stay allowed in our sections.
ok=$TMPDIR/ok.cfg
printf '%s' "$head$conv[branch]
stopbackward=0
$conv[siamese]
learning_rate=1
alpha=0.2
beta=0.3
mode=sample
pairing=other
test_lambda=0.25
seed=11
" > "$ok"
run_dn "$TMPDIR/ok.log" ops "$ok" || { tail "$TMPDIR/ok.log"; fail "a valid Siamese cfg with all keys does not parse"; }
grep -q "siamese   layers 0,2  test 0.25  alpha 0.2 beta 0.3  sample other  prob 1 stop 1  seed 11" "$TMPDIR/ok.log" \
    || { grep siamese "$TMPDIR/ok.log"; fail "network summary does not show [siamese]'s options"; }
printf '%s' "$head[mixup]
alpha=0.2
$conv[branch]
from=0
$conv[siamese]
prob=0.5
stop=0.8
" > "$ok"
run_dn "$TMPDIR/ok2.log" ops "$ok" || { tail "$TMPDIR/ok2.log"; fail "[mixup] in front of a Siamese block with from=0 does not parse"; }
grep -q "prob 0.5 stop 0.8" "$TMPDIR/ok2.log" || fail "summary does not show prob and stop"
echo "ok   $n bad cfgs rejected; cfgs using every key parse and are summarised"
