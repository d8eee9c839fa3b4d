#!/usr/bin/env bash
# Builds frugal's CNN firmware for Cortex-M4 (QEMU mps2-an386) and Cortex-M7
# (mps2-an500), runs every model under QEMU with ARM semihosting, and requires its
# int8 outputs to equal those of the same driver built for the host.
# Prints a memory / instruction-count report (markdown) and writes it to
# BUILD/report.md.
#
# usage: scripts/mcu_test.sh [--build-dir DIR] [--inputs N] [--models "ic kws vww"]
#                            [--cpus "m4 m7"] [--assets DIR] [--host-dir DIR]
# --host-dir: use the host drivers DIR/fw_<model> built elsewhere (the CTest passes those
#             it built with the main libfrugal, with --inputs equal to theirs); default:
#             build them here from mcu/CMakeLists.txt.
# exit: 0 all equal, 1 a mismatch or failure, 77 skipped (no toolchain, QEMU or assets).
#
# Instruction counts: QEMU runs with -icount shift=0 (every guest instruction
# advances virtual time by exactly 1 ns); the firmware reads SysTick (processor
# clock, 25 MHz on mps2) around fr_cnn_invoke and calibrates ticks against a loop
# of known length, so instructions = ticks * calib_instructions / calib_ticks.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build/mcu"
INPUTS=8
MODELS="ic kws vww"
CPUS="m4 m7"
ASSETS="${FR_ASSETS:-$ROOT/../shared/assets}"
QEMU_TIMEOUT="${FR_QEMU_TIMEOUT:-150}"
JOBS="${FR_JOBS:-2}"
HOST_DIR=""

while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) BUILD="$2"; shift 2 ;;
    --inputs) INPUTS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --cpus) CPUS="$2"; shift 2 ;;
    --assets) ASSETS="$2"; shift 2 ;;
    --host-dir) HOST_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed -e 's/^# //' -e 's/^#$//'; exit 0 ;;
    *) echo "mcu_test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$INPUTS" in ''|*[!0-9]*) echo "mcu_test.sh: --inputs '$INPUTS' is not a number" >&2; exit 2 ;; esac

for tool in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm cmake; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIPPED: $tool not found (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        exit 77
    fi
done
if [ ! -d "$ASSETS/cnn/mlperf-tiny" ]; then
    echo "SKIPPED: $ASSETS/cnn/mlperf-tiny not found (shared assets)"
    exit 77
fi
ASSETS="$(cd "$ASSETS" && pwd)"
mkdir -p "$BUILD/out"

machine_of() { case "$1" in m4) echo mps2-an386 ;; m7) echo mps2-an500 ;; *) return 1 ;; esac; }
cpu_of() { case "$1" in m4) echo cortex-m4 ;; m7) echo cortex-m7 ;; *) return 1 ;; esac; }
for c in $CPUS; do machine_of "$c" >/dev/null || { echo "mcu_test.sh: --cpus: unknown cpu '$c' (m4, m7)" >&2; exit 2; }; done

model_list="$(echo $MODELS | tr ' ' ';')"

if [ -z "$HOST_DIR" ]; then
    echo "== host build"
    HOST_DIR="$BUILD/host"
    cmake -S "$ROOT/mcu" -B "$HOST_DIR" -DCMAKE_BUILD_TYPE=Release -DFR_ASSETS="$ASSETS" \
        -DFW_MODELS="$model_list" -DFW_INPUTS="$INPUTS" >"$BUILD/out/host-cmake.log" 2>&1 ||
        { cat "$BUILD/out/host-cmake.log"; exit 1; }
    cmake --build "$HOST_DIR" -j"$JOBS" >"$BUILD/out/host-build.log" 2>&1 ||
        { tail -n 40 "$BUILD/out/host-build.log"; exit 1; }
fi

for m in $MODELS; do
    [ -x "$HOST_DIR/fw_$m" ] || { echo "mcu_test.sh: $HOST_DIR/fw_$m was not built"; exit 1; }
    "$HOST_DIR/fw_$m" >"$BUILD/out/host_$m.txt" || { echo "mcu_test.sh: host fw_$m failed"; cat "$BUILD/out/host_$m.txt"; exit 1; }
done

# run_fw CPU MODEL OUT: runs one firmware under QEMU; returns QEMU's exit status.
run_fw() {
    timeout "$QEMU_TIMEOUT" qemu-system-arm -machine "$(machine_of "$1")" -icount shift=0 \
        -semihosting-config enable=on,target=native -nographic -monitor none -serial none \
        -kernel "$BUILD/$1/fw_$2.elf" >"$3" 2>&1
}
# build_fw CPU ARENA-ARGS...: configures and builds the firmware of every model.
build_fw() {
    local c="$1"
    shift
    cmake -S "$ROOT/mcu" -B "$BUILD/$c" -DCMAKE_TOOLCHAIN_FILE="$ROOT/mcu/arm-none-eabi.cmake" \
        -DCMAKE_BUILD_TYPE=Release -DFW_CPU="$(cpu_of "$c")" -DFR_ASSETS="$ASSETS" \
        -DFW_MODELS="$model_list" -DFW_INPUTS="$INPUTS" "$@" \
        >"$BUILD/out/$c-cmake.log" 2>&1 || { cat "$BUILD/out/$c-cmake.log"; return 1; }
    cmake --build "$BUILD/$c" -j"$JOBS" >"$BUILD/out/$c-build.log" 2>&1 ||
        { tail -n 40 "$BUILD/out/$c-build.log"; return 1; }
}
status=0
report="$BUILD/report.md"
{
    echo "| model | cpu | flash bytes (text+rodata+data) | of which model | RAM bytes (data+bss+stack used) | of which arena (persistent + activations) | stack used | instructions / inference | outputs |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
} >"$report"

for c in $CPUS; do
    # Pass 1: a generous arena (256 KiB) to learn what each model needs on this CPU.
    echo "== $(cpu_of "$c") build (sizing the arenas)"
    args=()
    for m in $MODELS; do args+=("-DFW_ARENA_$m=262144"); done
    build_fw "$c" "${args[@]}" || exit 1
    args=()
    for m in $MODELS; do
        out="$BUILD/out/${c}_${m}_sizing.txt"
        rc=0
        run_fw "$c" "$m" "$out" || rc=$?
        bytes="$(awk '/^# arena_total /{print $3}' "$out")"
        if [ "$rc" -ne 0 ] || [ -z "$bytes" ]; then
            echo "-- $m on $c: sizing run failed (exit $rc):"; tail -n 5 "$out"
            exit 1
        fi
        args+=("-DFW_ARENA_$m=$bytes")
    done
    # Pass 2: each arena exactly as large as the model needs; this is the firmware
    # whose outputs are compared and whose memory is reported.
    echo "== $(cpu_of "$c") build (exact arenas)"
    build_fw "$c" "${args[@]}" || exit 1
    for m in $MODELS; do
        elf="$BUILD/$c/fw_$m.elf"
        out="$BUILD/out/${c}_$m.txt"
        rc=0
        run_fw "$c" "$m" "$out" || rc=$?
        verdict="identical"
        if [ "$rc" -ne 0 ]; then
            verdict="FAILED (exit $rc)"
            status=1
            echo "-- $m on $c: qemu exit status $rc"; tail -n 5 "$out"
        elif ! diff <(grep -v '^#' "$BUILD/out/host_$m.txt") <(grep -v '^#' "$out") >"$BUILD/out/${c}_$m.diff"; then
            verdict="DIFFERENT"
            status=1
            echo "-- $m on $c: outputs differ from the host:"; head -n 20 "$BUILD/out/${c}_$m.diff"
        fi
        read -r text data bss <<<"$(arm-none-eabi-size -B "$elf" | awk 'NR==2{print $1, $2, $3}')"
        val() { awk -v k="# $1" 'index($0, k " ") == 1 {print $NF}' "$out" | tail -n 1; }
        stack="$(val stack_used)"; arena="$(val arena_total)"; mbytes="$(val model_bytes)"
        apers="$(val arena_persistent)"; aact="$(val arena_activation)"
        ticks="$(val invoke_ticks_mean)"; cins="$(val calib_instructions)"; cticks="$(val calib_ticks)"
        insns="?"
        if [ -n "$ticks" ] && [ -n "$cticks" ] && [ "${cticks:-0}" -gt 0 ]; then
            insns="$(awk -v t="$ticks" -v i="$cins" -v c="$cticks" 'BEGIN{printf "%.0f", t * i / c}')"
        fi
        ram="?"
        [ -n "$stack" ] && ram=$((data + bss + stack))
        echo "| $m | $(cpu_of "$c") | $((text + data)) | ${mbytes:-?} | $ram | ${arena:-?} (${apers:-?} + ${aact:-?}) | ${stack:-?} | $insns | $verdict |" >>"$report"
        echo "-- $m on $c: $verdict"
    done
done

echo
cat "$report"
echo
echo "(RAM: data + bss (the static arena, sized exactly to what the model needs on this CPU) +"
echo " the stack's high-water mark. Instructions: QEMU -icount shift=0, mean of $INPUTS inputs.)"
if [ "$status" -ne 0 ]; then
    echo "mcu_test.sh: FAILED (logs in $BUILD/out)"
    exit 1
fi
echo "mcu_test.sh: all outputs identical to the host"
