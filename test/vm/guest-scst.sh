#!/bin/bash
# Runs inside the test VM (kernel/vm): our disk through the real, unpatched SCST (scst.ko,
# scst_user.ko, scst_local.ko, iscsi-scst.ko built by kernel/vm/scst.mjs, SCST_DIR names them).
# Every step appends "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps;
# test/vm/scst.test.ts asserts on those lines and then checks disk1.img from the host.
# The 64 MiB LU is laid out so that what each step leaves behind can be checked afterwards:
#   [0, 24M) ext4 | [24M, 48M) fio, then the kill -9 sequence blocks | [48M, 56M) the two
#   transports | [56M, 64M) the dd zone (ends with the last MiB)
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"
SCST_DIR=${SCST_DIR:?SCST_DIR must name the SCST build (kernel/vm/scst.mjs)}
SYS=/sys/kernel/scst_tgt
LOCAL=$SYS/targets/scst_local/scst_local_tgt # scst_local's default target (add_default_tgt=1)
IMG=$RESULTS/disk1.img
MIB=$((1 << 20))
source "$REPO/test/vm/scst-guest-lib.sh"

ip link set lo up 2>/dev/null || true
dmesg -c > /dev/null

# ---- 1. modules --------------------------------------------------------------------------------
# SCST's make install creates /var/lib/scst/pr; without it REGISTER_DEVICE fails ENOENT
# (scst_pr_init_dev: the PR file's parent directory does not exist).
mkdir -p /var/lib/scst/pr
modprobe -a sd_mod sg 2>&1
mods_ok=1
for m in scst scst_user scst_local; do
  # dependencies from Debian's module tree; the SCST ones are loaded in this order from SCST_DIR
  for dep in $(modinfo -F depends "$SCST_DIR/$m.ko" | tr ',' ' '); do
    case $dep in scst|scst_user|scst_local|iscsi_scst) ;; *) modprobe "$dep" ;; esac
  done
  insmod "$SCST_DIR/$m.ko" || { mods_ok=0; break; }
done
if [ $mods_ok = 1 ] && [ -c /dev/scst_user ] && [ -d "$LOCAL" ]; then
  kstep modules ok "$(head -1 $SYS/version) on $(uname -r)"
else
  kstep modules fail "insmod $m failed or no /dev/scst_user / $LOCAL"
  step done ok ""; exit 1
fi

# ---- 2. --link scst_user registers disk1; scst_local makes it /dev/sdX ---------------------------
rm -f "$IMG"; truncate -s 64M "$IMG"
if start_target /tmp/t1.out --link scst_user disk1 "$IMG"; then
  echo "$SERVING"
  URLD=$(json "$SERVING" url)
  if [ "$URLD" = "$SYS/devices/disk1" ] && [ -d "$SYS/devices/disk1" ] && add_local_lun &&
     [ "$(blockdev --getsize64 "$SD")" = $((64 * MIB)) ]; then
    kstep disk ok "$SD $(cat "$SYS/devices/disk1/type" 2>/dev/null | head -1)"
  else
    ls -l "$SYS/devices/" "$LOCAL/luns/"; tlog 1
    kstep disk fail "url=$URLD sd=${SD:-none}"
  fi
else
  tlog 1; kstep disk fail "no serving line"
fi
DEV=${SD:-}
[ -b "$DEV" ] || { step done ok ""; exit 1; }

# ---- 3. O_DIRECT dd at several offsets (4 KiB units), the last one the device's last MiB -------
bad=
: > "$RESULTS/zone.sums"
for off in 0 2561 14336 15105 16128; do
  head -c $MIB /dev/urandom > /tmp/r.$off
  # 256 KiB commands at 4 KiB-aligned offsets (under TCG each command costs a few ms: 4 KiB
  # commands made this step take half a minute)
  dd if=/tmp/r.$off of="$DEV" bs=262144 seek=$((off * 4096)) oflag=direct,seek_bytes conv=fsync,notrunc status=none || bad="$bad write@$off"
done
for off in 0 2561 14336 15105 16128; do
  # read back with another command size than was written (64 KiB)
  a=$(dd if="$DEV" bs=65536 skip=$((off * 4096)) count=$MIB iflag=direct,skip_bytes,count_bytes status=none | sum)
  [ "$a" = "$(sum < /tmp/r.$off)" ] || bad="$bad read@$off"
  [ $off -ge 14336 ] && echo "$off $a" >> "$RESULTS/zone.sums"
done
last=$(dd if="$DEV" bs=$MIB skip=63 iflag=direct status=none | sum)
[ "$last" = "$(sum < /tmp/r.16128)" ] || bad="$bad last-MiB"
[ -z "$bad" ] && kstep dd-offsets ok "5 x 1 MiB incl. the last" || kstep dd-offsets fail "$bad"

# ---- 4. ext4 in [0, 24M): mkfs, a tree, umount, fsck -fn, remount and checksums ----------------
mkdir -p /mnt/t
if mkfs.ext4 -q -F -E nodiscard -L scst "$DEV" 24M && mount "$DEV" /mnt/t; then
  cp -r "$REPO/src" /mnt/t/src
  (cd /mnt/t && find src -type f | sort | xargs sha256sum) > "$RESULTS/src.sums"
  umount /mnt/t
  # drop the page cache so fsck and the remount read what the target stored
  blockdev --flushbufs "$DEV"; echo 3 > /proc/sys/vm/drop_caches
  if fsck.ext4 -fn "$DEV" > /tmp/fsck.out 2>&1 && mount -o ro "$DEV" /mnt/t &&
     (cd /mnt/t && sha256sum -c --quiet "$RESULTS/src.sums") && umount /mnt/t; then
    kstep ext4 ok "$(wc -l < "$RESULTS/src.sums") files"
  else
    cat /tmp/fsck.out; umount /mnt/t 2>/dev/null; kstep ext4 fail "fsck or checksums"
  fi
else
  kstep ext4 fail "mkfs or mount"
fi

# ---- 5. fio: 4 jobs x 6 MiB in [24M, 48M), libaio, O_DIRECT, iodepth 16, crc32c verify -----------
FIO_ARGS=(--filename="$DEV" --direct=1 --ioengine=libaio --iodepth=16 --numjobs=4 --rw=randwrite
  --bsrange=4k-64k --size=6M --offset=24M --offset_increment=6M --verify=crc32c --verify_fatal=1
  --group_reporting)
t=$(now)
timeout 300 fio --name=verify "${FIO_ARGS[@]}" > /tmp/fio.out 2>&1; rc=$?
secs=$(awk -v a="$t" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
grep -E 'WRITE:|READ:|err=|verify' /tmp/fio.out
# every byte written is read back and verified: 24 MiB each way
if [ $rc = 0 ] && grep -q 'WRITE: .*io=24.0MiB' /tmp/fio.out && grep -q 'READ: .*io=24.0MiB' /tmp/fio.out; then
  kstep fio-verify ok "${secs}s"
else
  tail -30 /tmp/fio.out; kstep fio-verify fail "rc=$rc"
fi

# ---- 6. LUN reset and ABORT TASK while I/O runs --------------------------------------------------
SDN=${DEV#/dev/}
stats() { cat $SYS/targets/scst_local/stats; }
echo "scst_local before: $(stats)"
# 6a. sg_reset -d (SG_SCSI_RESET_DEVICE -> scst_local_device_reset -> SCST_LUN_RESET) three
# times while a verified fio runs; fio must finish clean. scst_local never completes the commands
# the reset aborted to the SCSI midlayer (scst_local_targ_xmit_response drops a command
# scst_cmd_aborted_on_xmit() says was aborted), so they come back only through the midlayer's
# timeout and its ABORT TASK, then are retried: a 10 s timeout instead of 30 s bounds that wait.
echo 10 > /sys/block/$SDN/device/timeout
timeout 300 fio --name=reset --randseed=7 "${FIO_ARGS[@]}" > /tmp/fio2.out 2>&1 &
FIO=$!
w0=$(awk '{print $5}' /sys/block/$SDN/stat)
writing() { [ "$(awk '{print $5}' /sys/block/$SDN/stat)" -gt $((w0 + 50)) ]; } # 50 writes done
wait_for 30 writing
rs=0
for _ in 1 2 3; do timeout 60 sg_reset -d "$DEV" && rs=$((rs + 1)); sleep 0.5; done
wait $FIO; rc=$?
echo 30 > /sys/block/$SDN/device/timeout
grep -E 'WRITE:|READ:|err=' /tmp/fio2.out
lr=$(grep -c 'task management LUN_RESET' /tmp/t1.out /tmp/t1.out.err | awk -F: '{s+=$2} END{print s+0}')
# how many commands the resets caught inside the LU (timing-dependent, reported, not asserted)
caught=$(grep -ho 'LUN_RESET: [0-9]*' /tmp/t1.out /tmp/t1.out.err | awk '{s+=$2} END{print s+0}')
if [ $rc = 0 ] && [ $rs = 3 ] && [ "$lr" -ge 3 ]; then
  kstep lun-reset ok "3 resets, $lr LUN_RESET seen by the LU, $caught command(s) in flight aborted; $(stats)"
else
  tail -20 /tmp/fio2.out; tlog 1; kstep lun-reset fail "fio rc=$rc resets=$rs LUN_RESET=$lr"
fi
# 6b. ABORT TASK: the target is stopped (SIGSTOP) while a verified fio keeps 16 commands per job
# queued; they time out in the SCSI midlayer, whose error handler aborts each one
# (scst_local_abort -> SCST_ABORT_TASK). scst_user fails those still queued in the kernel itself
# and passes the rest to the LU as TASK_MGMT_RECEIVED. On SIGCONT the LU answers, the aborts
# complete, the midlayer retries the commands and fio's crc32c verification must pass.
echo 4 > /sys/block/$SDN/device/timeout
a0=$(stats | sed 's/Aborts: \([0-9]*\).*/\1/')
timeout 300 fio --name=abort --randseed=11 "${FIO_ARGS[@]}" > /tmp/fio-abort.out 2>&1 &
FIO=$!
w0=$(awk '{print $5}' /sys/block/$SDN/stat)
wait_for 30 writing
inflight=$(tr -s ' ' < /sys/block/$SDN/inflight | sed 's/^ //')
kill -STOP $PID
# SCST logs each ABORT TASK it receives (scst_rx_mgmt_fn); scst_local counts one once it is done
aborting() { dmesg | grep -q 'TM fn ABORT_TASK'; }
wait_for 30 aborting || echo "--- no ABORT TASK within 30 s"
sleep 2
kill -CONT $PID
wait $FIO; rc=$?
echo 30 > /sys/block/$SDN/device/timeout
grep -E 'WRITE:|READ:|err=' /tmp/fio-abort.out
a1=$(stats | sed 's/Aborts: \([0-9]*\).*/\1/')
at=$(grep -c 'task management ABORT_TASK' /tmp/t1.out /tmp/t1.out.err | awk -F: '{s+=$2} END{print s+0}')
# how many of them the LU had in flight (timing-dependent, reported, not asserted)
caught=$(grep -ho 'ABORT_TASK: [0-9]*' /tmp/t1.out /tmp/t1.out.err | awk '{s+=$2} END{print s+0}')
if [ $rc = 0 ] && [ "$a1" -gt "$a0" ] && [ "$at" -ge 1 ]; then
  kstep abort-task ok "in flight at SIGSTOP (reads writes): $inflight; aborts $a0 -> $a1; ABORT_TASK at the LU: $at, catching $caught EXEC(s)"
else
  tail -20 /tmp/fio-abort.out; tlog 1; kstep abort-task fail "fio rc=$rc aborts $a0 -> $a1 ABORT_TASK=$at"
fi
# 6c. ABORT TASK for a command the LU is executing: disk2 (O_DIRECT, no page cache) sits on a
# device-mapper linear device that is then suspended, so the LU's reads block in the kernel with
# their EXECs in flight. The midlayer times the reads out, SCST passes ABORT TASK to the LU
# (TASK_MGMT_RECEIVED for an EXEC it holds); after dmsetup resume the LU answers, SCST completes
# the abort (TASK_MGMT_DONE), the midlayer retries and the reads must return the written data.
modprobe -a loop dm_mod
rm -f /tmp/slow.img; truncate -s 16M /tmp/slow.img
LOOP=$(losetup -f --show /tmp/slow.img)
ok6c=0 PID1=$PID
# (no udev in the guest: dmsetup mknodes makes /dev/mapper/slow; a second process beside disk1's
# names its own control socket)
if [ -n "$LOOP" ] && echo "0 32768 linear $LOOP 0" | timeout 30 dmsetup create --noudevsync slow &&
   timeout 30 dmsetup mknodes slow && [ -b /dev/mapper/slow ] &&
   start_target /tmp/t4.out --link scst_user --control /tmp/disk2.sock --direct --cache-size 0 disk2 /dev/mapper/slow &&
   echo "add disk2 1" > "$LOCAL/luns/mgmt" && find_sd disk2; then
  PID2=$PID PID=$PID1 SD2=$SD
  head -c $MIB /dev/urandom > /tmp/slow.bin
  dd if=/tmp/slow.bin of="$SD2" bs=$MIB oflag=direct conv=fsync status=none
  echo 4 > /sys/block/${SD2#/dev/}/device/timeout
  n0=$(dmesg | grep -c 'TM fn ABORT_TASK')
  aborting2() { [ "$(dmesg | grep -c 'TM fn ABORT_TASK')" -gt "$n0" ]; }
  # from here on anything touching the device blocks uninterruptibly until the resume (the dd
  # runs in the background: timeout could not kill it while it waits for the suspended device)
  timeout 30 dmsetup suspend --noudevsync --nolockfs --noflush slow
  timeout 120 dd if="$SD2" of=/tmp/slow-read.bin bs=65536 count=16 iflag=direct status=none &
  DD=$!
  wait_for 30 aborting2 || echo "--- no ABORT TASK within 30 s"
  sleep 2
  timeout 30 dmsetup resume --noudevsync slow
  wait $DD; rc=$?
  caught=$(grep -ho 'ABORT_TASK: [0-9]*' /tmp/t4.out /tmp/t4.out.err | awk '{s+=$2} END{print s+0}')
  if [ $rc = 0 ] && [ "$caught" -ge 1 ] && cmp -s /tmp/slow.bin /tmp/slow-read.bin; then
    kstep abort-in-lu ok "ABORT TASK caught $caught EXEC(s) inside the LU; the retried reads match"
  else
    tlog 4; kstep abort-in-lu fail "dd rc=$rc, EXECs aborted in the LU: $caught"
  fi
  PID1=$PID PID=$PID2; stop_target; rc=$RC; PID=$PID1
  wait_gone "$SYS/devices/disk2" && [ $rc = 0 ] || echo "--- disk2 did not stop cleanly: rc=$rc"
  ok6c=1
fi
[ $ok6c = 1 ] || { tlog 4; kstep abort-in-lu fail "disk2 on /dev/mapper/slow did not come up"; kill -9 "${PID2:-}" 2>/dev/null; }
timeout 30 dmsetup remove --noudevsync slow; losetup -d "$LOOP" 2>/dev/null
# afterwards the device keeps working: a verified write and read
head -c $MIB /dev/urandom > /tmp/after.bin
if dd if=/tmp/after.bin of="$DEV" bs=$MIB seek=47 oflag=direct conv=fsync,notrunc status=none &&
   [ "$(dd if="$DEV" bs=$MIB skip=47 count=1 iflag=direct status=none | sum)" = "$(sum < /tmp/after.bin)" ]; then
  kstep after-tm ok ""
else
  kstep after-tm fail "write/read after the resets and the abort"
fi

# ---- 7. the same LU through scst_local and iSCSI-SCST at once ----------------------------------
IQN=iqn.2026-11.org.fileio-tgt.test:scst-disk1
URL=iscsi://127.0.0.1:3260/$IQN/0
ok7=0
for dep in $(modinfo -F depends "$SCST_DIR/iscsi-scst.ko" | tr ',' ' '); do
  case $dep in scst) ;; *) modprobe "$dep" ;; esac
done
if insmod "$SCST_DIR/iscsi-scst.ko"; then
  setsid "$SCST_DIR/iscsi-scstd" -f -a 127.0.0.1 -p 3260 > /tmp/iscsi-scstd.log 2>&1 &
  ISCSID=$!
  T=$SYS/targets/iscsi
  # targets can be added once iscsi-scstd has opened the control device
  ctl_open() { [ "$(cat $T/open_state 2>/dev/null)" = open ]; }
  wait_for 30 ctl_open || echo "--- iscsi-scstd did not open the control device: $(cat $T/open_state)"
  if echo "add_target $IQN" > $T/mgmt && echo "add disk1 0" > $T/$IQN/luns/mgmt &&
     echo 1 > $T/$IQN/enabled && echo 1 > $T/enabled; then
    listening() { (exec 3<>/dev/tcp/127.0.0.1/3260) 2>/dev/null; }
    wait_for 30 listening
    ok7=1
  fi
fi
if [ $ok7 = 1 ]; then
  out=$(timeout 60 iscsi-inq "$URL" 2>&1); echo "$out"
  if echo "$out" | grep -q '^Peripheral Device Type:DIRECT_ACCESS' && echo "$out" | grep -q '^Vendor:FILEIO' &&
     echo "$out" | grep -q '^Product:disk1'; then kstep iscsi-inq ok ""; else kstep iscsi-inq fail "$out"; fi
  # scst_local -> iSCSI: 4 MiB at 48M through /dev/sdX, read through iSCSI
  head -c $((4 * MIB)) /dev/urandom > /tmp/a.bin
  head -c $((4 * MIB)) /dev/urandom > /tmp/b.bin
  sum < /tmp/a.bin > "$RESULTS/a.sha256"; sum < /tmp/b.bin > "$RESULTS/b.sha256"
  rm -f /tmp/a-iscsi.bin
  dd if=/tmp/a.bin of="$DEV" bs=$MIB seek=48 oflag=direct conv=fsync,notrunc status=none &&
    timeout 120 qemu-img dd -f raw -O raw bs=$MIB skip=48 count=52 if="$URL" of=/tmp/a-iscsi.bin
  # (qemu-img dd limits the input to count blocks before it skips: count=52 copies 48M..52M)
  [ "$(sum < /tmp/a-iscsi.bin 2>/dev/null)" = "$(cat "$RESULTS/a.sha256")" ] && kstep local-to-iscsi ok "" || kstep local-to-iscsi fail ""
  # iSCSI -> scst_local: 4 MiB at 52M written with FUA through iSCSI, read through /dev/sdX
  timeout 120 qemu-io -f raw -c "write -f -q -s /tmp/b.bin $((52 * MIB)) $((4 * MIB))" "$URL"
  got=$(dd if="$DEV" bs=$MIB skip=52 count=4 iflag=direct status=none | sum)
  [ "$got" = "$(cat "$RESULTS/b.sha256")" ] && kstep iscsi-to-local ok "" || kstep iscsi-to-local fail "$got"
  # the whole LU, one path against the other
  t=$(now)
  if timeout 300 qemu-img compare -f raw -F raw "$DEV" "$URL"; then
    kstep two-transports ok "qemu-img compare sdX vs iSCSI: $(awk -v a="$t" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s"
  else
    kstep two-transports fail "qemu-img compare rc=$?"
  fi
else
  cat /tmp/iscsi-scstd.log 2>/dev/null; kstep iscsi-inq fail "iSCSI-SCST did not come up"
fi

# ---- 8. SIGTERM: exit 0, the device and its LUNs gone -------------------------------------------
sync
stop_target; rc=$RC
tlog 1 8
if [ $rc = 0 ] && wait_gone "$SYS/devices/disk1" && [ ! -e "$LOCAL/luns/0" ] && [ ! -e "$SYS/targets/iscsi/$IQN/luns/0" ]; then
  kstep sigterm ok ""
else
  ls "$SYS/devices" "$LOCAL/luns"; kstep sigterm fail "rc=$rc"
fi

# ---- 9. kill -9 under O_DIRECT|O_SYNC writes; the same name registers again; acked writes kept ---
# Two writers: sequence-numbered 4 KiB O_DIRECT|O_SYNC writes in [24M, 32M) (each acknowledged
# one is recorded), and fio keeping 16 x 64 KiB writes in flight in [36M, 44M), so that the kill
# catches commands inside the LU. Both must end within 60 s of the kill, not hang.
SEQ=$((24 * 256)) # 4 KiB block of 24M: block SEQ+i holds "fileio-seq i"
: > /tmp/acked
writer() { # one 4 KiB O_DIRECT|O_SYNC write per sequence number until one fails
  local i
  for i in $(seq 0 2047); do
    { printf 'fileio-seq %08d\n' "$i"; head -c 4076 /dev/zero; } |
      dd of="$1" bs=4096 seek=$((SEQ + i)) count=1 iflag=fullblock oflag=direct,sync conv=notrunc status=none || return 0
    echo "$i" >> /tmp/acked
  done
}
if start_target /tmp/t2.out --link scst_user disk1 "$IMG" && add_local_lun; then
  DEV=$SD
  timeout 180 fio --name=load --filename="$DEV" --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite \
    --bs=64k --offset=36M --size=8M --time_based --runtime=170 > /tmp/fio3.out 2>&1 &
  FL=$!
  timeout 180 bash -c "$(declare -f writer); SEQ=$SEQ; writer $DEV" &
  WR=$!
  acked20() { [ "$(wc -l < /tmp/acked)" -ge 20 ]; }
  wait_for 120 acked20
  n0=$(wc -l < /tmp/acked)
  inflight=$(cat /sys/block/${DEV#/dev/}/inflight | tr -s ' ' | sed 's/^ //')
  kill -9 $PID; tk=$(now)
  wait $PID 2>/dev/null
  wait_for 120 exited $WR; wait $WR; wrc=$?
  wsecs=$(awk -v a="$tk" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  wait_for 60 exited $FL; wait $FL; frc=$?
  fsecs=$(awk -v a="$tk" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  grep -E 'err=|error' /tmp/fio3.out | head -5
  cp /tmp/acked "$RESULTS/acked"
  echo "in flight at the kill (reads writes): $inflight; acked before kill: $n0, in all: $(wc -l < /tmp/acked)"
  echo "writer ended ${wsecs}s after kill -9 (rc $wrc), fio ${fsecs}s (rc $frc)"
  # 124 = timeout killed a hung writer; fio must have failed (its device went away), not finished
  if [ $wrc != 124 ] && [ $frc != 124 ] && [ $frc != 0 ] &&
     awk -v w="$wsecs" -v f="$fsecs" 'BEGIN{exit !(w <= 60 && f <= 60)}'; then
    kstep kill9-writer ok "writers stopped ${wsecs}s / ${fsecs}s after kill -9; in flight then: $inflight; $(wc -l < /tmp/acked) acked"
  else
    tail -20 /tmp/fio3.out; kstep kill9-writer fail "writer rc $wrc after ${wsecs}s, fio rc $frc after ${fsecs}s"
  fi
  # the kernel unregisters the device once the fd is gone (dev_user_release); then the name is free
  if wait_gone "$SYS/devices/disk1" && start_target /tmp/t3.out --link scst_user disk1 "$IMG" && add_local_lun; then
    DEV=$SD
    kstep reregister ok "$DEV"
  else
    tlog 3; ls "$SYS/devices"; kstep reregister fail "sd=${SD:-none}"
  fi
  n=$(wc -l < /tmp/acked)
  if [ -b "${SD:-}" ] && [ "$n" -gt 0 ]; then
    dd if="$DEV" of=/tmp/seq.bin bs=4096 skip=$SEQ count="$n" iflag=direct status=none
    # every acknowledged block holds its own sequence number
    miss=$(node -e '
      const b = require("fs").readFileSync("/tmp/seq.bin"); let miss = [];
      for (let i = 0; i < +process.argv[1]; i++)
        if (b.toString("latin1", i * 4096, i * 4096 + 19) !== "fileio-seq " + String(i).padStart(8, "0")) miss.push(i);
      console.log(miss.slice(0, 10).join(" "));' "$n")
    [ -z "$miss" ] && kstep kill9-acked ok "$n acked blocks present" || kstep kill9-acked fail "missing: $miss"
  else
    kstep kill9-acked fail "no device or nothing acked ($n)"
  fi
  stop_target; rc=$RC
  [ $rc = 0 ] && wait_gone "$SYS/devices/disk1" && kstep final-sigterm ok "" || kstep final-sigterm fail "rc=$rc"
else
  tlog 2; kstep kill9-writer fail "second run did not start"
fi

[ -n "${ISCSID:-}" ] && kill $ISCSID 2>/dev/null
# ---- the target processes' own logs (disk1 three times, disk2): no warning or error from the link
cat /tmp/t[1-4].out.err > "$RESULTS/target.log" 2>/dev/null
grep -h '"level"' /tmp/t[1-4].out >> "$RESULTS/target.log" 2>/dev/null
grep -h -v '"event":"serving"' /tmp/t[1-4].out | tail -40
bad=$(grep -E '"level":"(warn|error)"' "$RESULTS/target.log" | head -3)
[ -z "$bad" ] && step target-logs ok "$(wc -l < "$RESULTS/target.log") lines" || step target-logs fail "${bad:0:400}"
# ---- 10. the kernel log of every step --------------------------------------------------------
if [ -s /tmp/kfindings ]; then
  cat /tmp/kfindings; step dmesg-clean fail "$(tr '\n' ';' < /tmp/kfindings | head -c 600)"
else
  step dmesg-clean ok "no $KERNEL_BAD in any step"
fi
step done ok ""
