# scripts/se-convert.c: Darknet's stock classifier cfgs (with [shortcut]s, [route]s, [dropout]s)
# become Siamese Ensembles that Darknet parses and trains, with every index pointing where it should
# (checked against Darknet's own layer tables); a baseline's weights become Siamese weights that
# give exactly the baseline's outputs, and an exported branch gives them again; cfgs it cannot
# convert are refused with a message naming the file, exit status 1, and no output written.
source tests/lib.sh
SE=$SCRIPTS_BIN/se-convert
REPO=$PWD STOCK=$PWD/build/darknet/cfg
[ -x "$SE" ] || fail "$SE is not built (make tools)"
[ -x "$TOOLS/net_outputs" ] || fail "$TOOLS/net_outputs is not built"
cd "$TMPDIR"

# se OUTLOG ARGS...: se-convert with a time limit, all output to OUTLOG.
se() { local log=$1; shift; timeout 120 "$SE" "$@" >"$log" 2>&1; }

# table OPSLOG: Darknet's layer table from an `ops` log, "index text" with spaces squeezed.
table() { grep -E '^ *[0-9]+ ' "$1" | sed -E 's/^ *//; s/ +/ /g'; }

# check_tables BASE.tab SE.tab N: SE's table must be BASE's with branch B = a copy of layers 0..N-1
# whose [route]/[shortcut] targets moved by N+1, then [siamese] mixing N-1 and 2N, then BASE's head
# with targets moved by N+2, except N-1, which must now be the [siamese] layer 2N+1.
check_tables() {
    awk -v N="$3" '
    function remap(text, part,   f, n, k, last, t, out) {
        n = split(text, f, " ")
        last = f[1] == "route" ? n : f[1] == "res" ? 2 : 1
        for (k = 2; k <= last; ++k) {
            t = f[k] + 0
            if (part == "B") t += N + 1
            else if (part == "head") t = t == N - 1 ? 2 * N + 1 : t + N + 2
            f[k] = t; if (part != "A") refs++
        }
        out = f[1]; for (k = 2; k <= n; ++k) out = out " " f[k]
        return out
    }
    function expect(j, want) {
        if (S[j] != want) { printf "layer %d: got \"%s\", want \"%s\"\n", j, S[j], want; bad++ }
    }
    FNR == NR { i = $1; sub(/^[0-9]+ /, ""); B[i] = $0; n = i + 1; next }
    { j = $1; sub(/^[0-9]+ /, ""); S[j] = $0; m = j + 1 }
    END {
        if (m != n + N + 2) { printf "%d layers, want %d\n", m, n + N + 2; exit 1 }
        for (i = 0; i < N; ++i) { expect(i, remap(B[i], "A")); expect(N + 1 + i, remap(B[i], "B")) }
        for (i = N; i < n; ++i) expect(N + 2 + i, remap(B[i], "head"))
        if (S[N] !~ /^branch network input/) { print "no [branch] at " N; bad++ }
        if (S[2 * N + 1] !~ "^siamese layers " (N - 1) "," (2 * N) " ") { print "no [siamese] mixing " N - 1 "," 2 * N; bad++ }
        printf "%d layers compared, %d [route]/[shortcut] targets\n", m, refs
        exit (bad > 0)
    }' "$1" "$2"
}

# ---- 1. stock cfgs: convert, parse, indices -------------------------------------------------------
# name:expected mixing point (the README rule: the classifier, moved back over [dropout]s before it)
for spec in cifar:13 darknet19:23 resnet18:27 densenet201:302; do
    name=${spec%%:*} N=${spec##*:}
    se "$name-cfg.log" cfg "$STOCK/$name.cfg" "$name-se.cfg" || { cat "$name-cfg.log"; fail "se-convert cfg $name.cfg exited $?"; }
    run_dn "$name.ops" ops "$STOCK/$name.cfg" || fail "ops on stock $name.cfg"
    run_dn "$name-se.ops" ops "$name-se.cfg" || { tail -n 3 "$name-se.ops"; fail "converted $name.cfg does not parse"; }
    grep -q '^\[branch\]' "$name-se.cfg" && grep -q '^\[siamese\]' "$name-se.cfg" || fail "$name-se.cfg lacks [branch] or [siamese]"
    table "$name.ops" > "$name.tab"; table "$name-se.ops" > "$name-se.tab"
    msg=$(check_tables "$name.tab" "$name-se.tab" "$N") || { echo "$msg" | head -n 20; fail "$name: layer tables do not line up"; }
    echo "ok   $name.cfg -> mixing point $N: $msg"
done
# Absolute indices too: in branch B they move by N+1; in the head, layer N-1 becomes [siamese].
cat > abs.cfg <<'EOF'
[net]
batch=4
width=16
height=16
channels=3

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[shortcut]
from=0
activation=linear

[route]
layers=2,1

[convolutional]
filters=8
size=1
activation=leaky

[route]
layers=-1

[avgpool]

# layer 7: the head with --at 7, reading layer 6 by its absolute index
[route]
layers=6

[connected]
output=3
activation=linear

[softmax]
EOF
se abs-cfg.log cfg abs.cfg abs-se.cfg --at 7 || { cat abs-cfg.log; fail "se-convert cfg abs.cfg exited $?"; }
run_dn abs.ops ops abs.cfg && run_dn abs-se.ops ops abs-se.cfg || { tail -n 3 abs-se.ops; fail "abs-se.cfg does not parse"; }
msg=$(check_tables <(table abs.ops) <(table abs-se.ops) 7) || { echo "$msg"; fail "abs.cfg: layer tables do not line up"; }
grep -q '^layers=10,9$' abs-se.cfg && grep -q '^from=8$' abs-se.cfg && grep -q '^layers=15$' abs-se.cfg \
    || fail "absolute indices were not rewritten as absolute ones"
echo "ok   absolute indices (abs.cfg --at 7): $msg"
grep -q '^from=-3$' resnet18-se.cfg && grep -q '^layers=-1,-3$' densenet201-se.cfg \
    || fail "relative indices were not kept relative"
[ "$(grep -c '^# Residual Block' resnet18-se.cfg)" = $((2 * $(grep -c '^# Residual Block' "$STOCK/resnet18.cfg"))) ] \
    && [ "$(grep -c '^# Testing' resnet18-se.cfg)" = 1 ] || fail "comments were lost (or [net]'s doubled)"
head -n 3 cifar-se.cfg | grep -q "generated from $STOCK/cifar.cfg" || fail "no header naming the source cfg"
echo "ok   relative indices stay relative; comments and a generated-from header are kept"

# ---- 2. one or two training steps on the tiny 16x16 3-class set -----------------------------------
make_tiny_dataset "$PWD/ds"
for name in cifar darknet19 resnet18 densenet201; do
    se "$name-tiny.log" cfg "$STOCK/$name.cfg" "$PWD/$name-tiny.cfg" --classes 3 --width 16 --height 16 \
        --batch 4 --subdivisions 1 --net max_batches=2 --net min_crop=16 --net max_crop=16 --alpha 0.2 --seed 5 \
        || { cat "$name-tiny.log"; fail "se-convert cfg $name.cfg with [net] overrides exited $?"; }
    (cd ds && run_dn "../$name-train.log" classifier train tiny.data "../$name-tiny.cfg") \
        || { tail -n 5 "$name-train.log"; fail "$name: classifier train exited $?"; }
    grep -Eq '^2, ' "$name-train.log" || { tail -n 5 "$name-train.log"; fail "$name: did not train 2 steps"; }
    grep -q 'siamese .*alpha 0.2 .*seed 5$' "$name-train.log" || fail "$name: [siamese] keys not applied"
    rm -f ds/backup/*.weights   # hundreds of MB for the big ones; only the steps matter here
    echo "ok   $name: 2 training steps, loss $(avg_loss "$name-train.log" last)"
done

# ---- 3. weights: baseline -> Siamese -> exported branch, outputs identical ------------------------
sed 's/^max_batches=150/max_batches=20/' "$REPO/tests/data/tiny-baseline.cfg" > base.cfg
(cd ds && run_dn ../base-train.log classifier train tiny.data ../base.cfg) || fail "baseline training exited $?"
cp ds/backup/base.weights base.weights
se conv.log cfg base.cfg se.cfg --seed 9 --test-lambda 0.5 || { cat conv.log; fail "cfg: exit $?"; }
se w.log weights base.cfg base.weights se.cfg se.weights || { cat w.log; fail "weights: exit $?"; }
"$TOOLS/net_outputs" base.cfg base.weights 8 > base.out 2>/dev/null && [ "$(wc -l < base.out)" = 8 ] || fail "net_outputs on the baseline"
"$TOOLS/net_outputs" se.cfg se.weights 8 > se.out 2>/dev/null || fail "net_outputs on the Siamese network"
cmp -s base.out se.out || { diff base.out se.out | head -n 4; fail "Siamese outputs differ from the baseline's"; }
echo "ok   Siamese network with the baseline in both branches: outputs identical to the baseline's (8 inputs, bit for bit)"
img=$(head -n 1 ds/valid.list)
run_dn base-pred.log classifier predict ds/tiny.data base.cfg base.weights "$img" && \
run_dn se-pred.log classifier predict ds/tiny.data se.cfg se.weights "$img" || fail "classifier predict exited $?"
[ -n "$(grep '%: ' base-pred.log)" ] && [ "$(grep '%: ' base-pred.log)" = "$(grep '%: ' se-pred.log)" ] \
    || fail "classifier predict percentages differ"
for b in A B; do
    se "exp$b.log" export se.cfg se.weights "exp$b.cfg" "exp$b.weights" --branch $b || { cat "exp$b.log"; fail "export --branch $b: exit $?"; }
    "$TOOLS/net_outputs" "exp$b.cfg" "exp$b.weights" 8 2>/dev/null | cmp -s - base.out || fail "export $b: outputs differ from the baseline's"
    run_dn "exp$b.ops" ops "exp$b.cfg" && run_dn base.ops ops base.cfg || fail "ops on exp$b.cfg"
    diff <(table base.ops) <(table "exp$b.ops") >/dev/null || fail "export $b: layer table differs from the baseline's"
    grep -Eq '^\[(branch|siamese)\]' "exp$b.cfg" && fail "export $b still has [branch] or [siamese]"
done
# The weights files after their 20-byte header (version, seen): `weights` resets seen to 0.
cmp -s <(tail -c +21 expA.weights) <(tail -c +21 base.weights) || fail "export A's parameters are not the baseline's, byte for byte"
[ "$(od -An -t u8 -j 12 -N 8 se.weights | tr -d ' ')" = 0 ] || fail "se-convert weights did not reset seen to 0"
echo "ok   export --branch A and B: ordinary cfgs with the baseline's layer table and outputs; A's parameters = the baseline's"

# Fine-tune the Siamese network from the converted weights (seen starts at 0), then check the
# exports' weights files byte for byte against the Siamese one: [A][B][head] -> [A][head], [B][head].
sed 's/^max_batches=.*/max_batches=5/' se.cfg > se5.cfg
(cd ds && run_dn ../ft.log classifier train tiny.data ../se5.cfg ../se.weights) || fail "fine-tuning exited $?"
grep -Eq '^1, ' ft.log && grep -Eq '^5, ' ft.log || fail "fine-tuning did not run batches 1-5 (seen not reset?)"
for b in A B; do se "ft$b.log" export se5.cfg ds/backup/se5.weights "ft$b.cfg" "ft$b.weights" --branch $b || fail "export $b after training"; done
tail -c +21 ds/backup/se5.weights > se.body; tail -c +21 ftA.weights > a.body; tail -c +21 ftB.weights > b.body
L=$(( $(stat -c %s se.body) - $(stat -c %s a.body) ))
[ "$L" -gt 0 ] && cmp -s <(head -c "$L" se.body) <(head -c "$L" a.body) \
    && cmp -s <(tail -c +$((L + 1)) se.body | head -c "$L") <(head -c "$L" b.body) \
    && cmp -s <(tail -c +$((2 * L + 1)) se.body) <(tail -c +$((L + 1)) a.body) \
    && cmp -s <(tail -c +$((L + 1)) a.body) <(tail -c +$((L + 1)) b.body) \
    && cmp -s <(head -c 20 ds/backup/se5.weights) <(head -c 20 ftA.weights) || fail "exported weights are not the Siamese network's branch and head"
cmp -s a.body b.body && fail "after fine-tuning, branches A and B are still identical"
echo "ok   fine-tuned from converted weights (batches 1-5); exports hold exactly branch A or B ($L bytes) and the shared head"

# ---- 4. refused, with the file named, exit status 1, nothing written ------------------------------
n=0
refuse() {  # refuse NAME PATTERN ARGS...
    local name=$1 pattern=$2 rc; shift 2; n=$((n + 1))
    rm -f out.cfg out.weights
    se "refuse-$name.log" "$@"; rc=$?
    [ $rc = 1 ] || { cat "refuse-$name.log"; fail "$name: exit status $rc, want 1"; }
    grep -Eq -- "$pattern" "refuse-$name.log" || { cat "refuse-$name.log"; fail "$name: message does not match /$pattern/"; }
    [ ! -e out.cfg ] && [ ! -e out.weights ] || fail "$name: output written anyway"
    echo "ok   $name: $(grep -Em1 -- "$pattern" "refuse-$name.log")"
}
refuse detector  "yolov3-tiny.cfg:.*\[yolo\]: a detector" cfg "$STOCK/yolov3-tiny.cfg" out.cfg
refuse siamese   "tiny-siamese.cfg:.*already a Siamese Ensemble" cfg "$REPO/tests/data/tiny-siamese.cfg" out.cfg
refuse tree      "darknet9000.cfg:.*tree softmax" cfg "$STOCK/darknet9000.cfg" out.cfg
refuse rnn       "rnn.cfg:.*recurrent" cfg "$STOCK/rnn.cfg" out.cfg
refuse at-0      "resnet18.cfg: --at 0: the mixing point must be" cfg "$STOCK/resnet18.cfg" out.cfg --at 0
refuse at-end    "resnet18.cfg: --at 29: the mixing point must be" cfg "$STOCK/resnet18.cfg" out.cfg --at 29
# layer 25 is [shortcut] from=-3 (layer 22): with the head starting at 24 it would reach into the backbone.
refuse head-ref  "resnet18.cfg:[0-9]+: layer 25 \[shortcut\] in the head .*refers to layer 22" cfg "$STOCK/resnet18.cfg" out.cfg --at 24
grep -q -- "--at 23 or lower, or --at 26 or higher" refuse-head-ref.log || fail "head-ref: no --at advice"
sed 's/^from=-3$/from=abc/' "$STOCK/resnet18.cfg" > badref.cfg
refuse bad-index "badref.cfg:[0-9]+: layer [0-9]+ \[shortcut\] from=abc: not a list of integers" cfg badref.cfg out.cfg
printf '[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=2\nsize=1\n[shortcut]\n[connected]\noutput=2\n[softmax]\n' > nofrom.cfg
refuse no-from   "nofrom.cfg:8: layer 1 \[shortcut\] has no from=" cfg nofrom.cfg out.cfg
printf '[net]\nwidth=8\nheight=8\nchannels=3\n[softmax]\n' > one.cfg
refuse one-layer "one.cfg: 1 layer" cfg one.cfg out.cfg
refuse missing   "nosuch.cfg: cannot read" cfg nosuch.cfg out.cfg
refuse not-converted "tiny-siamese.cfg: .*not base.cfg converted" weights base.cfg base.weights "$REPO/tests/data/tiny-siamese.cfg" out.weights
sed '0,/^filters=8$/! s/^filters=8$/filters=12/' se.cfg > se-wide.cfg   # branch B's first conv: 12 filters
refuse shapes    "se-wide.cfg: layer 5 \[convolutional\] \(branch B.*does not match base.cfg layer 0" weights base.cfg base.weights se-wide.cfg out.weights
head -c 1000 base.weights > short.weights
refuse short     "short.weights: 1000 bytes, but base.cfg needs 6080" weights base.cfg short.weights se.cfg out.weights
refuse no-se     "base.cfg: 0 \[branch\] and 0 \[siamese\]" export base.cfg base.weights out.cfg out.weights
se usage.log cfg only-one.cfg; [ $? = 2 ] || fail "a usage error should exit 2"
se badalpha.log cfg base.cfg out.cfg --alpha 0; [ $? = 2 ] && grep -q -- '--alpha 0: must be a number > 0' badalpha.log || fail "--alpha 0 accepted"
echo "ok   $n refusals; usage errors exit 2"

# The committed Siamese cfgs are what se-convert makes today (header comments aside).
regen() {  # BASE COMMITTED ARGS...
    local base=$1 committed=$2; shift 2
    "$SCRIPTS_BIN/se-convert" cfg "$base" "$TMPDIR/regen.cfg" "$@" > /dev/null 2>&1 || fail "se-convert $base failed"
    diff <(grep -v '^# se-convert:' "$committed") <(grep -v '^# se-convert:' "$TMPDIR/regen.cfg") > /dev/null \
        || fail "$committed is not what 'se-convert cfg $base ... $*' makes now: regenerate it"
}
regen "$ROOT/cfg/fashion-baseline.cfg" "$ROOT/cfg/fashion-siamese.cfg" --alpha 0.4 --seed 1
regen "$ROOT/build/darknet/cfg/cifar.cfg" "$ROOT/cfg/cifar-siamese.cfg" --alpha 0.4
echo "ok   cfg/fashion-siamese.cfg and cfg/cifar-siamese.cfg are up to date"
