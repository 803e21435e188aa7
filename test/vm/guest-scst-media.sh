#!/bin/bash
# Runs inside the test VM (kernel/vm): the stock SCST (scst.ko, scst_user.ko, scst_local.ko from
# $SCST_DIR, built by kernel/vm/scst.mjs) serves, through one `fileio_tgt --link scst_user`
# process, a DVD drive (dvd1), a tape drive (tape0) and a library (changer vtl + drive
# vtl-drive0). scst_local maps them to local SCSI devices used by the kernel's sr, st and sg
# drivers: mount -t iso9660, PREVENT, `fileio_tgt media swap`, eject, and the unit attentions of
# a swap and a LUN reset as a second session of dvd1 sees them; mt and tar in variable and fixed
# blocks; mtx. Every step
# appends "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps and fails also when the
# kernel log gained a BUG/Oops/WARNING/hung task/general protection line (kstep);
# test/vm/scst-media.test.ts asserts on them. It made the inputs on the host: a.iso, b.iso with
# a.sums, b.sums (every file's sha256), tape0.cart, carts/VOL001L6 and VOL002L6; SCST_DIR comes in
# the environment (test/helpers/vm-guest.ts scstForGuest).
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"
source "$REPO/kernel/vm/guest-media-lib.sh"
source "$REPO/kernel/vm/guest-scst-local.sh"

A=$RESULTS/a.iso
B=$RESULTS/b.iso
CTL=/run/fileio_tgt-scst.sock # not on the 9p share: it cannot hold a Unix socket
MEDIA="$CLI media --control $CTL"
dmesg -n 1 2>/dev/null # keep the console for our output; dmesg still has everything

ip link set lo up 2>/dev/null || true
# the initiator side first, so the devices bind as soon as scst_local scans them
if modprobe sr_mod && modprobe st && modprobe sg && modprobe isofs && scst_load; then
  kstep modules ok "$(uname -r); $(head -1 $SCST_SYSFS/version 2>/dev/null)"
else
  kstep modules fail "$(dmesg | tail -5 | tr '\n' ' ')"; exit 1
fi

# ---- one process serves everything; each device is an SCST user-space device
cat > "$RESULTS/media.json" <<EOF
{ "devices": [ { "name": "dvd1", "type": "cdrom", "file": "$A" },
               { "name": "tape0", "type": "tape", "file": "$RESULTS/tape0.cart" } ],
  "libraries": [ { "name": "vtl", "cartridges": "$RESULTS/carts", "drives": 1, "slots": 4, "mailSlots": 0 } ] }
EOF
DEVICES="dvd1 tape0 vtl vtl-drive0"
# the peripheral type SCST shows for each device (/sys/kernel/scst_tgt/devices/NAME/type)
declare -A TYPE=([dvd1]=5 [tape0]=1 [vtl]=8 [vtl-drive0]=1)
if SERVING_COUNT=4 START_TRIES=1200 start_target /tmp/media.out --link scst_user --control "$CTL" --config "$RESULTS/media.json"; then
  cat /tmp/media.out; ok=1; detail=
  for d in $DEVICES; do
    t=$(cut -c1 "$SCST_SYSFS/devices/$d/type" 2>/dev/null)
    [ "$t" = "${TYPE[$d]}" ] && [ "$(basename "$(readlink -f "$SCST_SYSFS/devices/$d/handler")")" = "$d" ] || { ok=0; detail="$detail $d: type '$t'"; }
  done
  [ $ok = 1 ] && kstep register ok "$(ls $SCST_SYSFS/devices | tr '\n' ' ')" || kstep register fail "$detail; $(ls $SCST_SYSFS/devices | tr '\n' ' ')"
else
  kstep register fail "no serving lines: $(tail -5 /tmp/media.out.err | tr '\n' ' ')"; exit 1
fi
cat /tmp/media.out.err

# ---- scst_local: one target (and SCSI host) per use; the library's changer at LUN 0 and its
# drive at LUN 1 of one target, so mtx and st see one library. dvd1 is also LUN 0 of a second
# target: a second session (I_T nexus) of the same device, for the unit attention fan-out.
ok=1
{ scst_local_target cd && scst_local_lun cd dvd1 0 && scst_local_session cd cd_host &&
  scst_local_target cd2 && scst_local_lun cd2 dvd1 0 && scst_local_session cd2 cd2_host &&
  scst_local_target tp && scst_local_lun tp tape0 0 && scst_local_session tp tp_host &&
  scst_local_target lib && scst_local_lun lib vtl 0 && scst_local_lun lib vtl-drive0 1 && scst_local_session lib lib_host; } || ok=0
SR=$(basename "$(ls -d "$(scsi_dev cd cd_host 0 5)"/block/* 2>/dev/null | head -1)")
SG2=$(ls "$(scsi_dev cd2 cd2_host 0 5)/scsi_generic" 2>/dev/null)
NST=$(ls "$(scsi_dev tp tp_host 0 1)/scsi_tape" 2>/dev/null | grep -E '^nst[0-9]+$')
CHG=$(ls "$(scsi_dev lib lib_host 0 8)/scsi_generic" 2>/dev/null)
LNST=$(ls "$(scsi_dev lib lib_host 1 1)/scsi_tape" 2>/dev/null | grep -E '^nst[0-9]+$')
if [ $ok = 1 ] && [ -b "/dev/$SR" ] && [ -c "/dev/$SG2" ] && [ -c "/dev/$NST" ] && [ -c "/dev/$CHG" ] && [ -c "/dev/$LNST" ]; then
  kstep devices ok "dvd1=/dev/$SR (second session /dev/$SG2) tape0=/dev/$NST vtl=/dev/$CHG vtl-drive0=/dev/$LNST"
else
  kstep devices fail "mgmt ok=$ok sr='$SR' second sg='$SG2' nst='$NST' changer='$CHG' library drive='$LNST'; $(ls /sys/bus/scsi/devices | tr '\n' ' ')"
  exit 1
fi
SR=/dev/$SR SG2=/dev/$SG2 NST=/dev/$NST CHG=/dev/$CHG LNST=/dev/$LNST

# ---------------------------------------------------------------- cdrom (sr)
A_BYTES=$(stat -c %s "$A")
B_BYTES=$(stat -c %s "$B")
mkdir -p /mnt/cd
# sr may still see the power-on UA (29/00, from the core) on its first commands: an open retries
got=$(blockdev --getsize64 "$SR" 2>&1 || blockdev --getsize64 "$SR" 2>&1)
[ "$got" = "$A_BYTES" ] && kstep cd-capacity ok "$got bytes" || kstep cd-capacity fail "blockdev '$got', image $A_BYTES"

if mount -t iso9660 -o ro "$SR" /mnt/cd && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  kstep cd-mount ok "$(wc -l < "$RESULTS/a.sums") files"
else
  kstep cd-mount fail "$(dmesg | tail -3 | tr '\n' ' ')"
fi

# sr locks the tray of a mounted disc (PREVENT ALLOW MEDIUM REMOVAL, which the core passes to
# us): START STOP UNIT LoEj straight to the drive (sg_raw: no ALLOW first, unlike the CDROMEJECT
# ioctl) is refused with 05/53/02, and the disc still reads. (`fileio_tgt media` starts node,
# ~10 s under TCG: the initiator's view is checked instead of the drive's status where it can be.)
out=$(sg_raw "$SR" 1b 00 00 00 02 00 2>&1); echo "sg_raw: $out"
if echo "$out" | grep -q 'Check Condition' && echo "$out" | grep -qi 'medium removal prevented' && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  kstep cd-locked ok ""
else
  kstep cd-locked fail "sg_raw '$(echo "$out" | tr '\n' ' ')'"
fi

# the operator swaps the disc of the closed, unmounted drive: only the drive's 28/00 (passed
# through by the core, which fans it out to the device's other sessions) or its GESN media event
# tells sr, which then reads the new size at the next open
umount /mnt/cd
$MEDIA swap dvd1 "$B"; rc=$?
got=
for _ in $(seq 1 20); do
  got=$(blockdev --getsize64 "$SR" 2>/dev/null) && [ "$got" = "$B_BYTES" ] && break
  sleep 0.3
done
if [ $rc = 0 ] && [ "$got" = "$B_BYTES" ] && mount -t iso9660 -o ro "$SR" /mnt/cd && sums_ok /mnt/cd "$RESULTS/b.sums"; then
  kstep cd-swap ok "size $A_BYTES -> $got"
else
  kstep cd-swap fail "swap rc=$rc, size '$got' (want $B_BYTES)"
fi
umount /mnt/cd

# The second session sent nothing since the swap. The LU raised 28/00 for both nexuses; the
# first session's came back through EXEC and the core copied it to the device's other sessions
# (scst_check_sense -> scst_dev_check_set_UA), so the link cleared the LU's own for them: the
# second session gets 28/00 exactly once (a second one would be the LU's duplicate)
tur() { sg_raw "$SG2" 00 00 00 00 00 00 2>&1; }
t1=$(tur); t2=$(tur); echo "TUR 1: $t1"; echo "TUR 2: $t2"
if echo "$t1" | grep -q 'Unit Attention' && echo "$t1" | grep -qi 'medium may have changed' && echo "$t2" | grep -q 'SCSI Status: Good'; then
  kstep cd-ua-once ok ""
else
  kstep cd-ua-once fail "TUR 1 '$(echo "$t1" | tr '\n' ' ')', TUR 2 '$(echo "$t2" | tr '\n' ' ')'"
fi

# LOGICAL UNIT RESET from the second session (sg_reset -d: scst_local_device_reset ->
# SCST_LUN_RESET). The core keeps the reset UA itself (scst_process_reset: 29/00 for every
# session of the device) and the LU must not return its own 29h: through EXEC it would crash
# the core (scst_check_sense, unit-attentions.ts), and the link withholds it (logged, BUSY). So
# each session gets one 29h UA, then GOOD.
SG1=/dev/$(ls "/sys/block/${SR#/dev/}/device/scsi_generic")
out=$(sg_reset -d "$SG2" 2>&1); rc=$?; echo "sg_reset: rc=$rc $out"
ok=1; detail="reset rc=$rc"
for g in "$SG2" "$SG1"; do
  t1=$(sg_raw "$g" 00 00 00 00 00 00 2>&1); t2=$(sg_raw "$g" 00 00 00 00 00 00 2>&1)
  echo "$g TUR 1: $t1"; echo "$g TUR 2: $t2"
  echo "$t1" | grep -q 'Unit Attention' && echo "$t1" | grep -qiE 'reset|power on' && echo "$t2" | grep -q 'SCSI Status: Good' || { ok=0; detail="$detail; $g: $(echo "$t1" | tail -1) / $(echo "$t2" | head -1)"; }
done
grep -q withheld /tmp/media.out.err && { ok=0; detail="$detail; the LU returned a core-owned UA: $(grep withheld /tmp/media.out.err | head -1)"; }
[ $rc = 0 ] && [ $ok = 1 ] && kstep cd-lun-reset ok "" || kstep cd-lun-reset fail "$detail"

# util-linux eject: CDROMEJECT, which sr turns into ALLOW MEDIUM REMOVAL + START STOP UNIT; then
# TEST UNIT READY says 02/3A/02 (medium not present, tray open)
eject "$SR"; rc=$?
out=$(sg_turs -v "$SR" 2>&1); echo "sg_turs: $out"
if [ $rc = 0 ] && echo "$out" | grep -qi 'medium not present - tray open'; then
  kstep cd-eject ok "tray open"
else
  kstep cd-eject fail "eject rc=$rc, TEST UNIT READY '$(echo "$out" | tr '\n' ' ')'"
fi

# ---------------------------------------------------------------- tape (st)
mt_ready "$NST"
out=$(mt -f "$NST" status 2>&1); echo "$out"
echo "$out" | grep -q ONLINE && echo "$out" | grep -q BOT && kstep tape-status ok "" || kstep tape-status fail "$(echo "$out" | tr '\n' ' ')"

tar_sources /tmp/src /tmp/src.sums
ok=1
for d in a b c; do (cd /tmp/src && tar -cf "$NST" -b 64 "$d") || ok=0; done
mt -f "$NST" status | tee /tmp/mt.after
grep -q 'File number=3' /tmp/mt.after || ok=0
[ $ok = 1 ] && kstep tape-write ok "" || kstep tape-write fail "$(tr '\n' ' ' < /tmp/mt.after)"

ok=1
mt -f "$NST" rewind || ok=0
mt -f "$NST" fsf 1 || ok=0
list=$(tar -tf "$NST" -b 64 2>&1); echo "$list" | head -3
echo "$list" | grep -q '^b/' || ok=0
[ $ok = 1 ] && kstep tape-fsf ok "" || kstep tape-fsf fail "$(echo "$list" | head -3 | tr '\n' ' ')"

tar_read_back "$NST" /tmp/dst /tmp/src.sums && kstep tape-read ok "" || kstep tape-read fail ""

# a variable-block READ(6) larger than the record (dd bs=256k on tar's 32 KiB records): 32768
# bytes come back with ILI and the residue in INFORMATION; our reply's resp_data_len is shorter
# than the core's buffer, and st returns the short record to dd
mt -f "$NST" rewind
n=$(dd if="$NST" bs=256k count=1 2>/dev/null | tee /tmp/rec.bin | wc -c)
name=$(head -c 100 /tmp/rec.bin | tr -d '\0')
[ "$n" = 32768 ] && [ "${name%%/*}" = a ] && kstep tape-ili ok "$n bytes" || kstep tape-ili fail "read $n bytes, first name '$name'"

ok=1
mt -f "$NST" eod || ok=0
out=$(mt -f "$NST" status 2>&1); echo "$out"
echo "$out" | grep -q 'File number=3' || ok=0
pos=$(mt -f "$NST" tell 2>&1); echo "$pos"
echo "$pos" | grep -qE '^At block [1-9][0-9]*\.' || ok=0
mt -f "$NST" bsf 2 && mt -f "$NST" status | grep -q 'File number=1' || ok=0
[ $ok = 1 ] && kstep tape-eod ok "$pos" || kstep tape-eod fail "$(echo "$out" | tr '\n' ' ') $pos"

# fixed-block mode: st sends READ/WRITE(6) with FIXED=1 and a count of blocks. We size them
# from the CDB and the drive's block length (parse type CALL: the core's scst_tape_generic_parse
# would use scst_user's block_shift of -1). st keeps the block length only if MODE SENSE page 0
# reports it at the next open (check_tape). Each 512-byte block is one logical object: READ
# POSITION moves by 512 for 256 KiB, plus the filemark st writes at close.
ok=1
head -c $((256 << 10)) /dev/urandom > /tmp/fixed.bin
mt -f "$NST" eod && mt -f "$NST" setblk 512 || ok=0
out=$(mt -f "$NST" status 2>&1); echo "$out"
echo "$out" | grep -q 'Tape block size 512 bytes' || ok=0
p0=$(mt -f "$NST" tell 2>&1 | sed -n 's/^At block \([0-9]*\)\.$/\1/p')
dd if=/tmp/fixed.bin of="$NST" bs=10240 2>&1 || ok=0 # 25 WRITE(6) of 20 blocks, one of 12
mt -f "$NST" bsf 1 && mt -f "$NST" bsf 1 && mt -f "$NST" fsf 1 || ok=0 # to the start of this file
dd if="$NST" of=/tmp/fixed.back bs=10240 2>&1 || ok=0
p1=$(mt -f "$NST" tell 2>&1 | sed -n 's/^At block \([0-9]*\)\.$/\1/p')
cmp /tmp/fixed.bin /tmp/fixed.back || ok=0
[ -n "$p0" ] && [ "${p1:-0}" = $((p0 + 512 + 1)) ] || ok=0
mt -f "$NST" setblk 0 || ok=0
[ $ok = 1 ] && kstep tape-fixed ok "256 KiB in 512-byte blocks: block $p0 -> $p1" || kstep tape-fixed fail "block $p0 -> $p1 (want +513); $(echo "$out" | sed -n 2,3p | tr '\n' ' ')"

# ---------------------------------------------------------------- changer (sg) + its drive
out=$(mtx -f "$CHG" status 2>&1); echo "$out"
if echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 1:Full :VolumeTag=VOL001L6' &&
   echo "$out" | grep -q 'Storage Element 2:Full :VolumeTag=VOL002L6' && echo "$out" | grep -q 'Storage Element 4:Empty'; then
  kstep mtx-status ok ""
else
  kstep mtx-status fail "$(echo "$out" | head -4 | tr '\n' ' ')"
fi

ok=1
mtx -f "$CHG" load 1 0 || ok=0
mtx -f "$CHG" status | grep -q 'Data Transfer Element 0:Full (Storage Element 1 Loaded):VolumeTag = VOL001L6' || ok=0
mt_ready "$LNST" || ok=0
out=$(mt -f "$LNST" status 2>&1); echo "$out"
echo "$out" | grep -q ONLINE && echo "$out" | grep -q BOT || ok=0
[ $ok = 1 ] && kstep mtx-load ok "" || kstep mtx-load fail "$(echo "$out" | tr '\n' ' ')"

ok=1
mt -f "$LNST" offline || ok=0
mtx -f "$CHG" unload 1 0 || ok=0
out=$(mtx -f "$CHG" status 2>&1); echo "$out"
echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 1:Full :VolumeTag=VOL001L6' || ok=0
[ $ok = 1 ] && kstep mtx-unload ok "" || kstep mtx-unload fail "$(echo "$out" | head -3 | tr '\n' ' ')"

# ---------------------------------------------------------------- shutdown
kill -TERM "$PID"; rc=
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then
  rc="still running after 30 s"
else
  wait "$PID"; rc=$?
fi
left=
for d in $DEVICES; do [ -e "$SCST_SYSFS/devices/$d" ] && left="$left $d"; done
[ "$rc" = 0 ] && [ -z "$left" ] && kstep teardown ok "" || kstep teardown fail "rc=$rc, still registered:$left"
cat /tmp/media.out.err

# the whole run's kernel log, not just since the last step
bad=$(dmesg | grep -E "$KERNEL_BAD")
[ -z "$bad" ] && step dmesg-clean ok "" || { dmesg | tail -60; step dmesg-clean fail "$(echo "$bad" | head -3 | tr '\n' ' ')"; }
echo "--- SCST's kernel log"; dmesg | grep -iE 'scst|dev_user' | tail -40
step done ok ""
