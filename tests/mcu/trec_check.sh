#!/usr/bin/env bash
# Runs mcu/trec_check.c (TREC int8 fast path == scalar reference on random
# configurations) on the Cortex-M4 and Cortex-M7 firmware that scripts/mcu_test.sh
# built for the mcu_qemu test (BUILD/m4, BUILD/m7). Exit 0 ok, 1 mismatch or crash,
# 77 skipped (no QEMU, or mcu_qemu did not build the firmware, e.g. it was skipped).
# usage: tests/mcu/trec_check.sh BUILD
set -u
BUILD="$1"
command -v qemu-system-arm >/dev/null 2>&1 || { echo "SKIPPED: qemu-system-arm not found"; exit 77; }
ran=0
for c in m4 m7; do
    elf="$BUILD/$c/trec_check.elf"
    [ -f "$elf" ] || continue
    machine=mps2-an386
    [ "$c" = m7 ] && machine=mps2-an500
    out="$(timeout 120 qemu-system-arm -machine "$machine" -icount shift=0 -nographic \
        -monitor none -serial none -semihosting-config enable=on,target=native \
        -kernel "$elf" 2>&1)"
    rc=$?
    echo "$c: $out"
    if [ "$rc" -ne 0 ] || ! grep -q "fast == reference" <<<"$out"; then
        echo "trec_check.sh: $c: FAILED (exit $rc)"
        exit 1
    fi
    ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "SKIPPED: no trec_check.elf under $BUILD (mcu_qemu not built)"; exit 77; }
echo "trec_check.sh: ok"
