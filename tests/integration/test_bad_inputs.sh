# Issue 7: every bad input is a clear message naming the file (and line, layer, key where there
# is one) and a non-zero exit status, never a crash or a silent guess (patches 0009-0013).
# File by file: cfg, .data, train/valid lists, labels, images, weights, backup folder; key by key:
# Darknet's own sections and ours; paths longer than Darknet's 256-byte buffers work.
source tests/lib.sh
d=$TMPDIR/ds
make_tiny_dataset "$d" --train 60 --valid 30
cd "$d"
cp "$ROOT/tests/data/tiny-baseline.cfg" base.cfg
sed -i 's/^max_batches=150/max_batches=4/' base.cfg
run_dn train.log classifier train tiny.data base.cfg || { tail -5 train.log; fail "training the small model exited $?"; }
w=$d/backup/base.weights
[ -s "$w" ] || fail "no backup/base.weights"
n=0
# err NAME PATTERN ARGS...: expect_error, counted
err() { n=$((n+1)); expect_error "$@"; }
# q TEXT: TEXT as an extended regex matching itself
q() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }
# data NAME KEY=VALUE...: tiny.data with those lines replaced (or added), as NAME.data
data() {
    local name=$1; shift
    cp tiny.data "$name.data"
    for kv in "$@"; do
        local k=${kv%%=*}
        sed -i "/^$k=/d" "$name.data"
        [ "$kv" = "$k=" ] || echo "$kv" >> "$name.data"
    done
}

# ---- missing or unreadable files: "Couldn't open file <path>: <reason>", status 1 (was 0) -------
mkdir -p adir
err cfg-missing      "Couldn't open file $(q "$d/none.cfg"): No such file or directory" ops "$d/none.cfg"
err cfg-directory    "Couldn't read file $(q "$d/adir"): Is a directory" ops "$d/adir"
if [ "$(id -u)" != 0 ]; then   # root reads files whatever their mode
    cp base.cfg noread.cfg && chmod 000 noread.cfg
    err cfg-unreadable "Couldn't open file $(q "$d/noread.cfg"): Permission denied" ops "$d/noread.cfg"
fi
err data-missing     "Couldn't open file $(q "$d/none.data"): No such file" classifier train "$d/none.data" base.cfg
data trainlist train=$d/none.list
err list-missing     "Couldn't open file $(q "$d/none.list"): No such file" classifier train trainlist.data base.cfg
data validlist valid=$d/adir
err list-directory   "Couldn't read file $(q "$d/adir"): Is a directory" classifier valid validlist.data base.cfg "$w"
data labels labels=$d/none.labels
err labels-missing   "Couldn't open file $(q "$d/none.labels"): No such file" classifier train labels.data base.cfg
err labels-valid     "Couldn't open file $(q "$d/none.labels"): No such file" valid labels.data base.cfg "$w"
err weights-missing  "Couldn't open file $(q "$d/none.weights"): No such file" valid tiny.data base.cfg "$d/none.weights"
err weights-dir      "$(q "$d/adir"): not a weights file: Is a directory" valid tiny.data base.cfg "$d/adir"
printf '%s\n' "$d/train/gone_blob.png" > gone.list
data gone train=$d/gone.list valid=$d/gone.list
err image-train      "Cannot load image \"$(q "$d/train/gone_blob.png")\": No such file" classifier train gone.data base.cfg
err image-valid      "Cannot load image \"$(q "$d/train/gone_blob.png")\": No such file" valid gone.data base.cfg "$w"
err image-predict    "Cannot load image \"$(q "$d/nope.png")\": No such file" classifier predict tiny.data base.cfg "$w" "$d/nope.png"

# ---- weights files: checked against the network before anything is read -----------------------
size=$(stat -c %s "$w")
head -c $((size - 10)) "$w" > cut.weights
err weights-cut      "cut\.weights: ends inside layer 4 \[connected\], which needs [0-9]+ bytes but [0-9]+ are left: .*another network" valid tiny.data base.cfg cut.weights
cat "$w" "$w" > long.weights
err weights-long     "long\.weights: $size bytes are left after the last layer with weights \(layer 4\): the weights of another network" valid tiny.data base.cfg long.weights
head -c 14 "$w" > header.weights
err weights-header   "header\.weights: not a Darknet weights file: 14 bytes, shorter than its header" valid tiny.data base.cfg header.weights
: > empty.weights
err weights-empty    "empty\.weights: not a Darknet weights file: 0 bytes" valid tiny.data base.cfg empty.weights
# Weights of another network: the same layers with 12 filters instead of 16 in layer 2.
sed 's/^filters=16/filters=12/' base.cfg > other.cfg
err weights-other    "$(q "$w"): (ends inside layer [0-9]|[0-9]+ bytes are left).*another network \(layer sizes do not match\)" valid tiny.data other.cfg "$w"
sed 's/^filters=16/filters=24/' base.cfg > bigger.cfg
err weights-smaller  "$(q "$w"): (ends inside layer [0-9]|[0-9]+ bytes are left).*another network" valid tiny.data bigger.cfg "$w"
# A file that ends exactly after a layer is what `darknet partial` writes: accepted, and said so.
run_dn partial.log partial base.cfg "$w" part.weights 1 || fail "partial exited $?"
run_dn part-valid.log valid tiny.data base.cfg part.weights || { tail -3 part-valid.log; fail "a partial weights file was refused"; }
grep -q "The file ends before layer 2: loaded 1 of 3 layers with weights" part-valid.log \
    || { grep -m1 Loading part-valid.log; fail "the partial load does not say how many layers were loaded"; }
echo "ok   partial weights (1 of 3 layers) accepted: $(grep -om1 'loaded 1 of 3 layers with weights' part-valid.log)"

# ---- backup folder: checked when training starts, not at the first save ------------------------
data nobackup backup=$d/none/deeper
err backup-missing   "nobackup\.data: backup folder $(q "$d/none/deeper") cannot take checkpoints: No such file or directory" classifier train nobackup.data base.cfg
grep -Eq '^[0-9]+, ' "$TMPDIR/err-backup-missing.log" && fail "backup-missing: training ran before the error"
data filebackup backup=$d/base.cfg
err backup-file      "backup folder $(q "$d/base.cfg") cannot take checkpoints: Not a directory" classifier train filebackup.data base.cfg
if [ "$(id -u)" != 0 ]; then
    mkdir ro && chmod 555 ro
    data robackup backup=$d/ro
    err backup-readonly "backup folder $(q "$d/ro") cannot take checkpoints: Permission denied" classifier train robackup.data base.cfg
elif [ -d /sys/kernel ] && ! : 2>/dev/null > /sys/kernel/.x; then
    # root writes anywhere a permission allows; sysfs refuses new files even to root.
    data robackup backup=/sys/kernel
    err backup-readonly "backup folder /sys/kernel cannot take checkpoints: Permission denied" classifier train robackup.data base.cfg
fi
data defbackup backup=
if [ ! -d /backup ]; then
    err backup-default "defbackup\.data: backup folder /backup/ \(Darknet's default: the \.data file has no backup= line\) cannot take checkpoints" classifier train defbackup.data base.cfg
fi

# ---- labels: a path must contain exactly one label name ----------------------------------------
cp "$(head -n 1 train.list)" "$d/both_hstripes_vstripes.png"
cp "$(head -n 1 train.list)" "$d/plain_nolabel.png"
{ head -n 5 train.list; echo "$d/both_hstripes_vstripes.png"; } > two.list
data twolabels train=$d/two.list valid=$d/two.list
err label-two-train  "image path \"$(q "$d/both_hstripes_vstripes.png")\" contains 2 label names \(hstripes, vstripes\): it must contain exactly one" classifier train twolabels.data base.cfg
err label-two-valid  "$(q "$d/two.list"):6: image path \"$(q "$d/both_hstripes_vstripes.png")\" contains 2 label names \(hstripes, vstripes\)" valid twolabels.data base.cfg "$w"
{ echo "$d/plain_nolabel.png"; head -n 3 train.list; } > none.list
data nolabel train=$d/none.list valid=$d/none.list
err label-none-train "image path \"$(q "$d/plain_nolabel.png")\" contains none of the 3 label names" classifier train nolabel.data base.cfg
err label-none-valid "$(q "$d/none.list"):1: image path \"$(q "$d/plain_nolabel.png")\" contains none of the 3 label names" classifier valid nolabel.data base.cfg "$w"
printf 'hstripes\n\nblob\n' > gap.labels
data gaplabels labels=$d/gap.labels
err label-empty      "$(q "$d/gap.labels"):2: an empty label name" classifier train gaplabels.data base.cfg
printf 'hstripes\nvstripes\n' > short.labels
data shortlabels labels=$d/short.labels
err labels-count     "shortlabels\.data: classes=3, but $(q "$d/short.labels") has 2 labels" classifier train shortlabels.data base.cfg
data fourclasses classes=4
err classes-outputs  "fourclasses\.data: classes=4, but base\.cfg outputs 3 values per image" classifier train fourclasses.data base.cfg
err classes-valid    "fourclasses\.data: classes=4, but base\.cfg outputs 3 values per image" valid fourclasses.data base.cfg "$w"

# ---- lists -------------------------------------------------------------------------------------
: > empty.list
data emptylist train=$d/empty.list valid=$d/empty.list
err list-empty-train "emptylist\.data: train=$(q "$d/empty.list"): the list has no image paths" classifier train emptylist.data base.cfg
err list-empty-valid "emptylist\.data: valid=$(q "$d/empty.list"): the list has no image paths" valid emptylist.data base.cfg "$w"

# ---- .data and cfg syntax and values -----------------------------------------------------------
data nonnum classes=three
err data-classes     "nonnum\.data:[0-9]+: classes=three: not an integer" classifier train nonnum.data base.cfg
printf 'classes=3\njust some words\n' > words.data
err data-line        "words\.data:2: not a key=value line: justsomewords" classifier train words.data base.cfg

# cfg NAME PATTERN TEXT: the cfg must be refused by `darknet ops` with a message naming it
cfg() {
    local f=$d/bad-$1.cfg
    printf '%s' "$3" > "$f"
    err "cfg-$1" "$2" ops "$f"
    grep -Fq "$f" "$TMPDIR/err-cfg-$1.log" || fail "cfg-$1: the message does not name the cfg file"
}
net=$TINY_NET
conv=$TINY_CONV
# [net]
cfg batch-zero      ':2: \[net\] batch=0: must be >= 1'                         "${net/batch=4/batch=0}$conv"
cfg batch-text      ':2: \[net\] batch=four: not an integer'                    "${net/batch=4/batch=four}$conv"
cfg batch-huge      ':2: \[net\] batch=99999999999: integer out of range'       "${net/batch=4/batch=99999999999}$conv"
cfg subdiv-zero     ':6: \[net\] subdivisions=0: must be in \[1, 4\]'           "${net}subdivisions=0
$conv"
cfg subdiv-big      ':6: \[net\] subdivisions=8: must be in \[1, 4\]'           "${net}subdivisions=8
$conv"
cfg width-neg       ':3: \[net\] width=-8: must be >= 0'                        "${net/width=8/width=-8}$conv"
cfg no-input        '\[net\] no input size: give width, height and channels'    "[net]
batch=1
$conv"
cfg input-huge      'the input would need [0-9]+ values; Darknet counts them in an int' "[net]
batch=4
width=100000
height=100000
channels=3
$conv"
cfg lr-text         ':6: \[net\] learning_rate=fast: not a number'              "${net}learning_rate=fast
$conv"
cfg lr-inf          ':6: \[net\] learning_rate=inf: not a finite float'         "${net}learning_rate=inf
$conv"
cfg policy          ':6: \[net\] policy=sometimes: unknown policy'              "${net}policy=sometimes
$conv"
cfg steps-scales    ':8: \[net\] scales=.1: 1 scales for 2 steps'               "${net}policy=steps
steps=10,20
scales=.1
$conv"
cfg steps-text      ':7: \[net\] steps=10,x: not a comma-separated list of integers' "${net}policy=steps
steps=10,x
scales=.1,.1
$conv"
cfg step-zero       ':7: \[net\] step=0: must be >= 1'                          "${net}policy=step
step=0
$conv"
cfg max-batches     ':6: \[net\] max_batches=-5: must be >= 0'                  "${net}max_batches=-5
$conv"
cfg flip            '\[net\] flip=2: must be 0'                                 "${net}flip=2
$conv"
cfg seed-neg        ':6: \[net\] seed=-1: must be >= 0'                          "${net}seed=-1
$conv"
cfg seed-text       ':6: \[net\] seed=abc: not an integer'                       "${net}seed=abc
$conv"
cfg seed-huge       ':6: \[net\] seed=4294967296: integer out of range'          "${net}seed=4294967296
$conv"
# structure
cfg no-sections     'no sections: a cfg starts with \[net\]'                    "# nothing here
"
cfg net-only        '\[net\] is the only section: the network has no layers'    "$net"
cfg first-section   'the first section is \[convolutional\]: it must be \[net\]' "$conv$net"
cfg option-first    ':1: batch=4: an option before the first \[section\]'       "batch=4
$net$conv"
cfg not-key-value   ':6: not a key=value line: filters'                         "${net}filters
$conv"
cfg empty-value     ':7: not a key=value line: filters='                        "$net[convolutional]
filters=
"
cfg unknown-section 'unknown section \[convolution\] \(layer 0\)'               "$net[convolution]
"
cfg only-cost       'the network has only \[cost\] layers'                      "$net[cost]
"
# layers, key by key
cfg conv-filters0   ':7: layer 0 \[convolutional\]: filters=0: must be >= 1'    "$net${conv/filters=4/filters=0}"
cfg conv-size0      ':8: layer 0 \[convolutional\]: size=0: must be >= 1'       "$net${conv/size=3/size=0}"
cfg conv-stride0    ':11: layer 0 \[convolutional\]: stride=0: must be >= 1'    "$net${conv}stride=0
"
cfg conv-size-big   'layer 0 \[convolutional\]: output would be -2 x -2 x 4'    "$net[convolutional]
filters=4
size=11
"
cfg conv-groups     ':11: layer 0 \[convolutional\]: groups=2: must divide the 3 input channels' "$net${conv}groups=2
"
cfg conv-activation ':10: layer 0 \[convolutional\]: activation=relu6: unknown activation' "$net${conv/leaky/relu6}"
cfg conv-pad-text   ':9: layer 0 \[convolutional\]: pad=yes: not an integer'    "$net${conv/pad=1/pad=yes}"
cfg conv-numload    ':11: layer 0 \[convolutional\]: numload=9: must be in \[0, 4\]' "$net${conv}numload=9
"
cfg conv-huge       'layer 0 \[convolutional\]: the weights would need [0-9]+ values' "$net[convolutional]
filters=2000000
size=999
pad=1
"
cfg maxpool-stride  ':12: layer 1 \[maxpool\]: stride=0: must be >= 1'          "$net$conv[maxpool]
stride=0
"
cfg maxpool-size    ':12: layer 1 \[maxpool\]: size=-2: must be >= 1'           "$net$conv[maxpool]
size=-2
"
cfg connected-out   ':12: layer 1 \[connected\]: output=0: must be >= 1'        "$net$conv[connected]
output=0
"
cfg dropout-first   'layer 0 \[dropout\]: \[dropout\] works in place on the layer before it' "$net[dropout]
"
cfg dropout-prob    ':12: layer 1 \[dropout\]: probability=1: must be in \[0, 1\)' "$net$conv[dropout]
probability=1
"
cfg softmax-groups  ':12: layer 1 \[softmax\]: groups=5: must divide the 256 inputs' "$net$conv[softmax]
groups=5
"
cfg route-none      'layer 1 \[route\]: needs layers=<layer>'                   "$net$conv[route]
"
cfg route-later     ':12: layer 1 \[route\]: layers=3: layer 3 is not an earlier layer' "$net$conv[route]
layers=3
"
cfg route-neg       ':12: layer 1 \[route\]: layers=-5: layer -4 is not an earlier layer' "$net$conv[route]
layers=-5
"
cfg route-text      ':12: layer 1 \[route\]: layers=0,a: not a comma-separated list of integers' "$net$conv[route]
layers=0,a
"
cfg shortcut-none   'layer 1 \[shortcut\]: needs from=<layer>'                 "$net$conv[shortcut]
"
cfg shortcut-later  ':12: layer 1 \[shortcut\]: from=1: layer 1 is not an earlier layer' "$net$conv[shortcut]
from=1
"
cfg upsample-zero   ':12: layer 1 \[upsample\]: stride=0: must not be 0'        "$net$conv[upsample]
stride=0
"
cfg reorg-stride    ':12: layer 1 \[reorg\]: stride=3: stride\*stride must divide the 4 input channels' "$net$conv[reorg]
stride=3
"
cfg crop-big        ':7: layer 0 \[crop\]: crop_height=9: must be in \[1, 8\]' "$net[crop]
crop_height=9
crop_width=4
"
cfg yolo-mask       ':13: layer 1 \[yolo\]: mask=0,7: anchor index 7 is not in \[0, num=3\)' "$net[convolutional]
filters=18
size=1
activation=linear
[yolo]
classes=4
num=3
mask=0,7
"
cfg yolo-inputs     'layer 1 \[yolo\]: expects w\*h\*mask\*\(classes\+5\) = 1152 inputs, but the layer before outputs 256' "$net$conv[yolo]
classes=4
num=2
"
cfg yolo-anchors    ':13: layer 1 \[yolo\]: anchors=1,2,3,4,5: 5 numbers, but this layer has room for 4' "$net[convolutional]
filters=9
size=1
[yolo]
classes=4
num=2
mask=0
anchors=1,2,3,4,5
"
cfg region-coords   ':12: layer 1 \[region\]: coords=2: must be >= 4'           "$net$conv[region]
coords=2
"
cfg detection-in    'layer 1 \[detection\]: expects side\*side\*\(\(1\+coords\)\*num\+classes\) = 490 inputs, but the layer before outputs 256' "$net$conv[detection]
side=7
num=2
coords=4
classes=0
"
cfg cost-type       ':12: layer 1 \[cost\]: type=l3: unknown cost type'          "$net$conv[cost]
type=l3
"
cfg rnn-output      ':5: layer 0 \[rnn\]: output=0: must be >= 1'               "[net]
batch=2
inputs=4
[rnn]
output=0
"
# ours: [branch] and [siamese] (more in test_cfg_errors.sh)
sia() { printf '%s' "$net$conv[branch]
$1
$conv[siamese]
${2:-}
"; }
cfg branch-from-txt ':12: layer 1 \[branch\]: from=first: not an integer'       "$(sia from=first)"
cfg branch-from-big ':12: layer 1 \[branch\]: from=9999999999: integer out of range' "$(sia from=9999999999)"
cfg siamese-alpha   ':19: layer 3 \[siamese\]: alpha=1e-50: too close to 0 for a float' "$(sia '' alpha=1e-50)"
cfg siamese-beta0   ':19: layer 3 \[siamese\]: beta=0: must be > 0'              "$(sia '' beta=0)"
cfg siamese-tl-txt  ':19: layer 3 \[siamese\]: test_lambda=half: not a number'   "$(sia '' test_lambda=half)"
cfg siamese-tl-nan  ':19: layer 3 \[siamese\]: test_lambda=nan: not a finite float' "$(sia '' test_lambda=nan)"
cfg siamese-seed    ':19: layer 3 \[siamese\]: seed=x1: not an integer'          "$(sia '' seed=x1)"
cfg siamese-3layers ':19: layer 3 \[siamese\]: layers=0,2,2: more than 2 values'   "$(sia '' layers=0,2,2)"
cfg siamese-nokey   ':19: not a key=value line: alpha'                           "$(sia '' alpha)"
cfg siamese-mode    ':19: not a key=value line: mode='              "$(sia '' mode=)"
echo "ok   $n bad inputs refused with a message naming the file and a failure status"

# ---- long paths (Darknet's char buff[256]): training, validation and prediction work -----------
long=$d/$(printf 'x%.0s' {1..120})/$(printf 'y%.0s' {1..120})/$(printf 'z%.0s' {1..40})
mkdir -p "$long/backup"
cfgname=$(printf 'c%.0s' {1..200})
cp base.cfg "$long/$cfgname.cfg"
img=$long/$(printf 'i%.0s' {1..100})_blob.png
cp "$(grep -m1 _blob valid.list)" "$img"
printf '%s\n' "$img" > "$long/valid.list"
data longpaths backup=$long/backup valid=$long/valid.list
[ ${#long} -gt 256 ] && [ ${#img} -gt 256 ] || fail "the long paths are not longer than 256 bytes"
run_dn long-train.log classifier train longpaths.data "$long/$cfgname.cfg" || { tail -3 long-train.log; fail "training with a ${#long}-byte backup path exited $?"; }
[ -s "$long/backup/$cfgname.weights" ] || fail "no checkpoint under the long backup path"
run_dn long-valid.log valid longpaths.data "$long/$cfgname.cfg" "$long/backup/$cfgname.weights" || fail "valid with a ${#img}-byte image path exited $?"
grep -q 'top 1:' long-valid.log || fail "valid with a long image path printed no result"
run_dn long-predict.log classifier predict longpaths.data "$long/$cfgname.cfg" "$long/backup/$cfgname.weights" "$img" || fail "predict with a ${#img}-byte path exited $?"
grep -Eq '%: (hstripes|vstripes|blob)' long-predict.log || fail "predict with a long path printed no class"
echo "ok   a ${#long}-byte backup folder, a $((${#cfgname}+4))-byte cfg name and a ${#img}-byte image path work"
