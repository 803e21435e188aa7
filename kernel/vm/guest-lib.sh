#!/bin/bash
# Sourced by the guest scripts the VM tests run (test/vm/guest-*.sh), after they set REPO:
#   source "$REPO/kernel/vm/guest-lib.sh"
# Sets CLI (the real CLI from this repository), STEPS ($RESULTS/steps, emptied) and T0, and
# defines step (the "STEP <name> <ok|fail> <seconds> <detail>" lines test/helpers/vm-guest.ts
# asserts on), now, log, start_target and json.
RESULTS=${RESULTS:?RESULTS must name the writable share}
CLI="node --enable-source-maps $REPO/bin/fileio_tgt.js"
STEPS=$RESULTS/steps
: > "$STEPS"
T0=$(date +%s.%N)
now() { date +%s.%N; }
step() { # step NAME STATUS DETAIL...
  local name=$1 st=$2; shift 2
  local t; t=$(awk -v a="$T0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  echo "STEP $name $st $t $*" | tee -a "$STEPS"
}
log() { echo "--- $*"; }
# What the kernel must never log during a test, in its own words: 'BUG:' (also 'watchdog: BUG:
# soft lockup'), 'Oops', 'WARNING:' (and SCST's ***WARNING***), a general protection fault, and
# khungtaskd's 'INFO: task NAME:PID blocked for more than N seconds' with its hung_task hint.
KERNEL_BAD='BUG|Oops|WARNING|hung task|hung_task|blocked for more than|general protection'


# start_target LOGFILE ARGS...: starts the CLI in the background, waits for its serving line
# (SERVING_COUNT=N: for N serving lines; START_TRIES: polls 0.1 s apart, 600 by default).
# Sets PID and SERVING (the first serving JSON line).
start_target() {
  local out=$1 want=${SERVING_COUNT:-1} tries=${START_TRIES:-600}; shift
  : > "$out"
  setsid $CLI --json "$@" > "$out" 2> "$out.err" &
  PID=$!
  SERVING=
  for _ in $(seq 1 "$tries"); do
    if [ "$(grep -c '"event":"serving"' "$out")" -ge "$want" ]; then
      SERVING=$(grep -m1 '"event":"serving"' "$out")
      return 0
    fi
    kill -0 $PID 2>/dev/null || break
    sleep 0.1
  done
  echo "target did not start:"; cat "$out" "$out.err"
  return 1
}
# json JSON PATH: the value at PATH (dot-separated) in JSON, empty when absent.
json() { node -e 'const o=JSON.parse(process.argv[1]); const v=process.argv[2].split(".").reduce((a,k)=>a?.[k],o); console.log(v===undefined?"":v)' "$1" "$2"; }
