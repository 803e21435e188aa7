#!/bin/bash
# Runs inside the test VM (kernel/vm): a tape library (one drive, a changer, cartridge files made
# with `fileio_tgt tape create`) served with --link tcmu --export local, driven by the kernel's
# st and sg drivers through Debian's mt-st, tar and mtx. Every step appends
# "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps; test/vm/tape.test.ts asserts on
# those lines.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"
source "$REPO/kernel/vm/guest-media-lib.sh"

ip link set lo up 2>/dev/null || true
modprobe target_core_user && modprobe tcm_loop && modprobe st && modprobe sg || { step modules fail "modprobe failed"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
step modules ok "$(uname -r)"

CARTS=$RESULTS/carts
mkdir -p "$CARTS"
ok=1
# test/vm/tape.test.ts makes the cartridges on the host (node starts slowly under TCG)
for i in 1 2 3; do [ -f "$CARTS/VOL00${i}L6" ] || $CLI tape create --barcode VOL00${i}L6 --size 256M "$CARTS/VOL00${i}L6" || ok=0; done
[ $ok = 1 ] && step tape-create ok "" || step tape-create fail ""
cat > "$RESULTS/lib.json" <<EOF
{ "libraries": [ { "name": "vtl", "cartridges": "$CARTS", "drives": 1, "slots": 4, "mailSlots": 1 } ] }
EOF

# start_lib LOGFILE: starts the CLI with the library, waits for both serving lines. Sets PID.
start_lib() {
  SERVING_COUNT=2 START_TRIES=900 start_target "$1" --link tcmu --export local --config "$RESULTS/lib.json"
}
find_devs() {
  CHG=; NST=
  for d in /sys/class/scsi_generic/sg*; do
    [ "$(cat "$d/device/type" 2>/dev/null)" = 8 ] && CHG=/dev/$(basename "$d")
  done
  for d in /sys/class/scsi_tape/nst*; do
    case $(basename "$d") in *[a-z]) ;; *) NST=/dev/$(basename "$d") ;; esac
  done
}

if start_lib /tmp/t1.out; then
  cat /tmp/t1.out; sleep 0.5; find_devs
  [ -n "$CHG" ] && [ -n "$NST" ] && step devices ok "$CHG $NST" || step devices fail "changer=$CHG tape=$NST $(ls /sys/class/scsi_generic /sys/class/scsi_tape 2>&1 | tr '\n' ' ')"
else
  step devices fail "no serving lines"
fi
cat /tmp/t1.out.err

if [ -n "${CHG:-}" ] && [ -n "${NST:-}" ]; then
  # LIO itself queues REPORTED LUNS DATA HAS CHANGED (3F/0E) for the new LUNs: take it first
  sg_turs "$CHG" >/dev/null 2>&1; sg_turs "$CHG" >/dev/null 2>&1
  out=$(mtx -f "$CHG" status 2>&1); echo "$out"
  if echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 1:Full :VolumeTag=VOL001L6' &&
     echo "$out" | grep -q 'Storage Element 4:Empty' && echo "$out" | grep -q 'IMPORT/EXPORT'; then
    step mtx-status ok ""
  else
    step mtx-status fail ""
  fi

  if mtx -f "$CHG" load 1 0 && mtx -f "$CHG" status | grep -q 'Data Transfer Element 0:Full (Storage Element 1 Loaded):VolumeTag = VOL001L6'; then
    step mtx-load ok ""
  else
    step mtx-load fail "$(mtx -f "$CHG" status 2>&1 | head -3 | tr '\n' ' ')"
  fi

  mt_ready "$NST"; out=$(mt -f "$NST" status 2>&1); echo "$out"
  echo "$out" | grep -q 'ONLINE' && echo "$out" | grep -q 'BOT' && step mt-status ok "" || step mt-status fail "$(echo "$out" | tr '\n' ' ')"

  # tar: three archives (each ends with a filemark), then read them back, one by position
  tar_sources /tmp/src /tmp/src.sums
  ok=1
  for d in a b c; do (cd /tmp/src && tar -cf "$NST" -b 64 "$d") || ok=0; done
  mt -f "$NST" status | tee /tmp/mt.after
  grep -q 'File number=3' /tmp/mt.after || ok=0
  [ $ok = 1 ] && step tar-write ok "" || step tar-write fail "$(tr '\n' ' ' < /tmp/mt.after)"

  ok=1
  mt -f "$NST" rewind || ok=0
  mt -f "$NST" fsf 1 || ok=0
  list=$(tar -tf "$NST" -b 64 2>&1); echo "$list" | head -3
  echo "$list" | grep -q '^b/tape/' || ok=0
  [ $ok = 1 ] && step mt-fsf ok "" || step mt-fsf fail "$list"

  tar_read_back "$NST" /tmp/dst /tmp/src.sums && step tar-read ok "" || step tar-read fail ""

  ok=1
  mt -f "$NST" eod || ok=0
  out=$(mt -f "$NST" status 2>&1); echo "$out"
  echo "$out" | grep -q 'File number=3' || ok=0
  pos=$(mt -f "$NST" tell 2>&1); echo "$pos"
  mt -f "$NST" bsf 2 && mt -f "$NST" status | grep -q 'File number=1' || ok=0
  [ $ok = 1 ] && step mt-eod ok "$pos" || step mt-eod fail "$out $pos"

  # unload through the drive, put the cartridge back, move another one around
  ok=1
  mt -f "$NST" offline || ok=0
  mtx -f "$CHG" unload 1 0 || ok=0
  mtx -f "$CHG" transfer 2 4 || ok=0
  out=$(mtx -f "$CHG" status 2>&1); echo "$out"
  echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 1:Full :VolumeTag=VOL001L6' &&
    echo "$out" | grep -q 'Storage Element 2:Empty' && echo "$out" | grep -q 'Storage Element 4:Full :VolumeTag=VOL002L6' || ok=0
  [ $ok = 1 ] && step mtx-unload-transfer ok "" || step mtx-unload-transfer fail ""

  # kill -9 while dd writes 64 KiB blocks: every block dd saw acknowledged is on the cartridge
  mtx -f "$CHG" load 4 0 && mt_ready "$NST"
  head -c $((64 << 20)) /dev/urandom > /tmp/pattern.bin
  (dd if=/tmp/pattern.bin of="$NST" bs=64k 2> /tmp/dd.err; echo "dd rc=$?" >> /tmp/dd.err) &
  DD=$!
  sleep 4
  kill -9 $PID; wait $PID 2>/dev/null
  sleep 1
  if start_lib /tmp/t2.out; then
    cat /tmp/t2.out /tmp/t2.out.err
    wait $DD; cat /tmp/dd.err
    n=$(sed -n 's/^\([0-9]*\)+[0-9]* records out$/\1/p' /tmp/dd.err)
    mt_ready "$NST"; mt -f "$NST" rewind
    dd if="$NST" of=/tmp/back.bin bs=64k count="${n:-0}" 2>&1
    a=$(head -c $(( ${n:-0} * 65536 )) /tmp/pattern.bin | sha256sum); b=$(sha256sum < /tmp/back.bin)
    if [ -n "$n" ] && [ "$n" -gt 0 ] && [ "$a" = "$b" ]; then step kill9-acked ok "$n blocks"; else step kill9-acked fail "n=$n"; fi
    mtx -f "$CHG" status | grep -q 'Data Transfer Element 0:Full' && step kill9-state ok "" || step kill9-state fail "$(mtx -f "$CHG" status 2>&1 | head -3 | tr '\n' ' ')"
    kill -TERM $PID; wait $PID; rc=$?
    [ $rc = 0 ] && step teardown ok "" || step teardown fail "rc=$rc"
  else
    step kill9-acked fail "no restart"
  fi
fi
$CLI tape info "$CARTS/VOL002L6" || true
step done ok ""
