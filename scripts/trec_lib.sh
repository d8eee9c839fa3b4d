# Shell functions of the TREC model scripts (scripts/trec_*_models.sh), sourced by them.
# The caller sets BUILD (for bin/frugal), NET (trec_train.py --net), X (the export folder),
# GROUP and DENSE_TAG (the bench group and its dense baseline's export tag).
PY=/usr/bin/python3
M=build/trec_models
TT="nice -n 5 $PY tools/py/trec_train.py"

trec_lib_init() {
    mkdir -p "$M/logs" "$X"
    [ -x "$BUILD/bin/frugal" ] ||
        { echo "$0: $BUILD/bin/frugal not found (build first)" >&2; exit 1; }
}

# train TAG ARGS...: trec_train.py ARGS --tag TAG, log in $M/logs; skipped when the
# checkpoint exists. Runs in the foreground; add & at the call to run it beside others.
train() {
    tag=$1
    shift
    [ -f "$M/${NET}_$tag.pt" ] && return 0
    echo "== $NET $tag"
    $TT "$@" --net "$NET" --tag "$tag" > "$M/logs/${NET}_$tag.log" 2>&1
}

# export_one CHECKPOINT TAG [extra export options]: int8 + float TFLite and sidecars into
# $X, in group $GROUP against $DENSE_TAG; skipped when the export exists.
export_one() {
    ck=$1 tag=$2
    shift 2
    [ -f "$X/$tag.json" ] && return 0
    echo "== export $tag"
    $PY tools/py/export_cifar.py "$NET" "$ck" "$X/$tag" --float --tag "$tag" \
        --group "$GROUP" --dense "$DENSE_TAG" --frugal "$BUILD/bin/frugal" "$@" \
        > "$M/logs/export_$tag.log" 2>&1
}

trec_lib_index() {
    $PY tools/py/export_cifar.py index "$X"
    echo "done: $X/index.json (bench/trec/run.py --build $BUILD)"
}
