#!/bin/bash
# Runs inside the test VM (kernel/vm): backup software's own qualification tools against our
# library, served from the command line (`--type changer lib FOLDER --drives 1`, as a new user
# would) with --link tcmu --export local, through the kernel's st and sg drivers: Bacula's btape
# (test, autochanger with mtx-changer, fill on a small cartridge), Amanda's amtapetype, and
# stenc (a 256-bit key set, data written and read back, a keyless read refused with the
# encryption sense, the status). Every step appends "STEP <name> <ok|fail> <seconds> <detail>"
# to $RESULTS/steps; test/vm/backup.test.ts asserts on those lines.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"

ip link set lo up 2>/dev/null || true
modprobe target_core_user && modprobe tcm_loop && modprobe st && modprobe sg || { step modules fail "modprobe failed"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
step modules ok "$(uname -r)"

# made by test/vm/backup.test.ts (small cartridges and one empty file), copied to the guest's
# tmpfs: the share is 9p, whose fdatasync costs far more than the drive under test
cp -r "$RESULTS/carts" /tmp/carts
CARTS=/tmp/carts
SERVING_COUNT=2 START_TRIES=900 start_target /tmp/lib.out --link tcmu --export local --type changer --drives 1 lib "$CARTS" || { step devices fail "no serving lines"; cat /tmp/lib.out.err; exit 1; }
cat /tmp/lib.out /tmp/lib.out.err
sleep 0.5
CHG=; NST=; TSG=
for d in /sys/class/scsi_generic/sg*; do
  case "$(cat "$d/device/type" 2>/dev/null)" in
    8) CHG=/dev/$(basename "$d") ;;
    1) TSG=/dev/$(basename "$d") ;;
  esac
done
for d in /sys/class/scsi_tape/nst*; do case $(basename "$d") in *[a-z]) ;; *) NST=/dev/$(basename "$d") ;; esac; done
if [ -n "$CHG" ] && [ -n "$NST" ] && [ -n "$TSG" ]; then step devices ok "$CHG $NST $TSG"; else step devices fail "changer=$CHG tape=$NST sg=$TSG"; exit 1; fi
sg_turs "$CHG" >/dev/null 2>&1; sg_turs "$CHG" >/dev/null 2>&1
mtx -f "$CHG" status
mt_ready() { for _ in $(seq 1 30); do mt -f "$NST" status 2>&1 | grep -q ONLINE && return 0; sleep 0.3; done; return 1; }

# ---- Bacula btape -------------------------------------------------------------------------
mkdir -p /tmp/bacula
cat > /tmp/bacula-sd.conf <<EOF
Storage {
  Name = vm-sd
  WorkingDirectory = /tmp/bacula
  Pid Directory = /tmp/bacula
  Maximum Concurrent Jobs = 1
}
Director {
  Name = vm-dir
  Password = "vm"
}
Autochanger {
  Name = lib
  Device = Drive-0
  Changer Device = $CHG
  Changer Command = "/etc/bacula/scripts/mtx-changer %c %o %S %a %d"
}
Device {
  Name = Drive-0
  Media Type = LTO
  Archive Device = $NST
  Device Type = Tape
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  RandomAccess = no
  Autochanger = yes
  Drive Index = 0
  Changer Device = $CHG
  Changer Command = "/etc/bacula/scripts/mtx-changer %c %o %S %a %d"
  # btape test writes 2 x 10000 blocks of this size: 4 KiB keeps it at 80 MB under emulation
  Maximum Block Size = 4096
}
Messages {
  Name = Standard
  director = vm-dir = all
}
EOF
# fill: the same drive without the changer (one cartridge, simple test) and Bacula's default blocks
sed -e '/^Autochanger {/,/^}/d' -e 's/^  Autochanger = yes/  Autochanger = no/' -e '/Changer Device\|Changer Command\|Drive Index\|Maximum Block Size\|btape test writes/d' /tmp/bacula-sd.conf > /tmp/fill-sd.conf
# mtx-changer reads its settings from the overlay's /etc; no waiting between moves needed here
sed -i 's/^offline_sleep=.*/offline_sleep=0/; s/^load_sleep=.*/load_sleep=0/' /etc/bacula/scripts/mtx-changer.conf 2>/dev/null
btape_run() { # btape_run NAME CONF INPUT: runs btape with INPUT on stdin, output in /tmp/btape-NAME.log
  local name=$1 conf=$2 input=$3
  local t; t=$(now)
  printf '%b' "$input" | timeout "$BTAPE_TIMEOUT" btape -c "$conf" Drive-0 > "/tmp/btape-$name.log" 2>&1
  local rc=$?
  cat "/tmp/btape-$name.log"
  echo "--- btape $name: rc $rc in $(awk -v a="$t" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"
  return $rc
}

BTAPE_TIMEOUT=300; [ -f "$RESULTS/full" ] && BTAPE_TIMEOUT=1500
mtx -f "$CHG" load 1 0 && mt_ready || step btape-load fail "mtx load"
# btape test (2 x 10000 blocks written and re-read) is the longest step under TCG (about 15 ms
# per command here); test/vm/backup.test.ts writes $RESULTS/full for it
if [ -f "$RESULTS/full" ]; then
  btape_run test /tmp/bacula-sd.conf 'test\nn\nquit\n'
  # btape's own verdicts: both write/re-read tests, the append scan (files 1-4 with 1, 2, 3, 1
  # blocks), the backspace re-read and forward spacing
  if [ "$(grep -c '=== Test Succeeded. End Write, rewind, and re-read test ===' /tmp/btape-test.log)" = 2 ] \
     && grep -q 'We should be in file 4. I am at file 4. This is correct!' /tmp/btape-test.log \
     && grep -q 'Total files=4, blocks=7' /tmp/btape-test.log && grep -q 'Block re-read correct. Test succeeded!' /tmp/btape-test.log \
     && grep -q '=== End Forward space files test ===' /tmp/btape-test.log && ! grep -qE 'FAILED|Fatal|ERR=' /tmp/btape-test.log; then
    step btape-test ok ""
  else
    step btape-test fail "$(grep -iE 'fail|err' /tmp/btape-test.log | head -5 | tr '\n' ' ')"
  fi
fi
btape_run autochanger /tmp/bacula-sd.conf 'auto\ny\nquit\n'
if grep -q 'The test autochanger worked' /tmp/btape-autochanger.log; then step btape-autochanger ok ""; else step btape-autochanger fail "$(tail -5 /tmp/btape-autochanger.log | tr '\n' ' ')"; fi

# fill: Bacula writes until the end of the medium (the write that fails with ENOSPC at early
# warning, the end-of-volume label and filemarks after it) and re-reads the last block written.
# The simple test then re-reads the first 10000 records (about 320 MB) before it checks the last
# block again: that runs on the 400 MB cartridge of slot 5 when $RESULTS/full is there (always
# from test/vm/backup.test.ts); else the 80 MB cartridge of slot 2 (more than the 1000 blocks
# btape writes before it stops at the end).
slot=2; [ -f "$RESULTS/full" ] && slot=5
mt -f "$NST" offline; mtx -f "$CHG" unload 2>/dev/null; mtx -f "$CHG" load $slot 0; mt_ready
btape_run fill /tmp/fill-sd.conf 'fill\ns\n\n\n\nquit\n'
sed '/Enter do_unfill/q' /tmp/btape-fill.log > /tmp/btape-fill-write.log
if grep -q 'End of Volume "TestVolume1" at' /tmp/btape-fill-write.log && grep -q 'Re-read of last block succeeded' /tmp/btape-fill-write.log \
   && grep -q 'Done filling tape' /tmp/btape-fill-write.log && ! grep -qiE 'Fatal|Not OK' /tmp/btape-fill-write.log; then
  step btape-fill ok "$(grep -m1 'End of Volume' /tmp/btape-fill-write.log)"
else
  step btape-fill fail "$(grep -iE 'err|fail|fatal' /tmp/btape-fill-write.log | head -5 | tr '\n' ' ')"
fi
if [ -f "$RESULTS/full" ]; then
  if grep -qE 'matches.*(Test succeeded|test succeeded)' /tmp/btape-fill.log && ! grep -q 'do_unfill failed' /tmp/btape-fill.log; then step btape-unfill ok ""; else step btape-unfill fail "$(grep -iE 'err|fail|fatal' /tmp/btape-fill.log | tail -3 | tr '\n' ' ')"; fi
fi

# ---- Amanda amtapetype --------------------------------------------------------------------
# amtapetype on the 16 MB cartridge of slot 3
mt -f "$NST" offline; mtx -f "$CHG" unload; mtx -f "$CHG" load 3 0; mt_ready
chmod 666 "$NST"
su backup -s /bin/sh -c "timeout 240 amtapetype -f -b 32k $NST" > /tmp/amtapetype.log 2>&1
cat /tmp/amtapetype.log
len=$(sed -n 's/.*length \([0-9]*\) kbytes.*/\1/p' /tmp/amtapetype.log | head -1)
bs=$(sed -n 's/.*blocksize \([0-9]*\) kbytes.*/\1/p' /tmp/amtapetype.log | head -1)
# the cartridge is 16 MB (15625 KiB): a sensible capacity is within 30% of that
if [ -n "$len" ] && [ "$len" -gt 11000 ] && [ "$len" -lt 20000 ] && [ "${bs:-0}" = 32 ]; then step amtapetype ok "length ${len} KiB, blocksize ${bs:-?} KiB"; else step amtapetype fail "length=${len:-none}"; fi

# ---- stenc --------------------------------------------------------------------------------
mt_ready; mt -f "$NST" rewind
printf '%s\n%s\n' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f vm-key-1 > /tmp/key.hex
chmod 600 /tmp/key.hex
yes | timeout 60 stenc -f "$NST" -e on -k /tmp/key.hex -a 1 > /tmp/stenc-on.log 2>&1; rc=$?
cat /tmp/stenc-on.log
[ $rc = 0 ] && step stenc-set ok "" || step stenc-set fail "rc=$rc $(tr '\n' ' ' < /tmp/stenc-on.log)"
head -c $((1 << 20)) /dev/urandom > /tmp/secret.bin
ok=1
dd if=/tmp/secret.bin of="$NST" bs=64k 2>&1 || ok=0
mt -f "$NST" rewind || ok=0
dd if="$NST" of=/tmp/secret.back bs=64k count=16 2>&1 || ok=0
cmp /tmp/secret.bin /tmp/secret.back || ok=0
[ $ok = 1 ] && step stenc-roundtrip ok "" || step stenc-roundtrip fail ""
mt -f "$NST" rewind
timeout 60 stenc -f "$NST" --detail > /tmp/stenc-detail.log 2>&1
cat /tmp/stenc-detail.log
if grep -q 'Encrypting' /tmp/stenc-detail.log && grep -qE 'Algorithm: *1|Encryption Algorithm: *1' /tmp/stenc-detail.log && grep -q 'Encrypted and able to decrypt' /tmp/stenc-detail.log; then
  step stenc-status ok ""
else
  step stenc-status fail "$(tr '\n' ' ' < /tmp/stenc-detail.log)"
fi
yes | timeout 60 stenc -f "$NST" -e off > /tmp/stenc-off.log 2>&1; cat /tmp/stenc-off.log
mt -f "$NST" rewind
dd if="$NST" of=/dev/null bs=64k count=1 2>&1 && keyless=read || keyless=refused
out=$(sg_raw -r 64k "$TSG" 08 00 01 00 00 00 2>&1); echo "$out"
if [ $keyless = refused ] && echo "$out" | grep -qi 'Data Protect' && echo "$out" | grep -qi 'Unable to decrypt data'; then step stenc-keyless ok ""; else step stenc-keyless fail "$keyless $(echo "$out" | tr '\n' ' ' | head -c 300)"; fi

kill -TERM $PID; wait $PID; rc=$?
[ $rc = 0 ] && step teardown ok "" || step teardown fail "rc=$rc"
cat /tmp/lib.out.err | tail -20
step done ok ""
