#!/bin/bash
# Runs inside the test VM (kernel/vm): the tcmu link against the real target_core_user, tcm_loop
# and LIO iSCSI; then the embedded iSCSI target against the kernel's own initiator (open-iscsi). Every step appends "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps;
# test/vm/tcmu.test.ts asserts on those lines and on the image files afterwards (from the host).
# Steps keep going after a failure where that makes sense, so one boot reports everything.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"

ip link set lo up 2>/dev/null || true
modprobe target_core_user && modprobe tcm_loop && modprobe sd_mod || { step modules fail "modprobe failed"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
step modules ok "$(uname -r)"

IMG=$RESULTS/disk1.img
rm -f "$IMG"; truncate -s 96M "$IMG"
PATTERN=/tmp/pattern.bin
head -c $((16 << 20)) /dev/urandom > "$PATTERN"
sha256sum < "$PATTERN" | cut -d' ' -f1 > "$RESULTS/pattern.sha256"
cp "$PATTERN" "$RESULTS/pattern.bin"

# ---- 1. local export: /dev/sdX ----------------------------------------------------------------
if start_target /tmp/t1.out --link tcmu --export local disk1 "$IMG"; then
  DEV=$(json "$SERVING" url); UIO=$(json "$SERVING" link.uio)
  echo "$SERVING"
  if [ -b "$DEV" ]; then step local-sdX ok "$DEV $UIO"; else step local-sdX fail "url=$DEV"; fi
else
  step local-sdX fail "no serving line"; DEV=
fi
cat /tmp/t1.out.err

if [ -b "${DEV:-}" ]; then
  # status line text and what the kernel sees
  cat /sys/block/$(basename "$DEV")/device/vendor /sys/block/$(basename "$DEV")/device/model 2>/dev/null | tr -s ' \n' ' '; echo
  echo "size: $(blockdev --getsize64 "$DEV")"
  [ "$(blockdev --getsize64 "$DEV")" = $((96 << 20)) ] && step local-size ok "" || step local-size fail "$(blockdev --getsize64 "$DEV")"

  # 2. dd a pattern (1 MiB O_DIRECT writes) and read it back
  if dd if="$PATTERN" of="$DEV" bs=1M oflag=direct conv=fsync status=none &&
     got=$(dd if="$DEV" bs=1M count=16 iflag=direct status=none | sha256sum | cut -d' ' -f1) &&
     [ "$got" = "$(cat "$RESULTS/pattern.sha256")" ]; then
    step dd-pattern ok "$got"
  else
    step dd-pattern fail "got ${got:-nothing}"
  fi
  # 4 KiB random-offset reads cross-checked against the pattern
  bad=0
  for off in 1 77 1234 3071 4095; do
    a=$(dd if="$DEV" bs=4096 skip=$off count=1 iflag=direct status=none | sha256sum)
    b=$(dd if="$PATTERN" bs=4096 skip=$off count=1 status=none | sha256sum)
    [ "$a" = "$b" ] || bad=$((bad + 1))
  done
  [ $bad = 0 ] && step dd-4k ok "" || step dd-4k fail "$bad mismatches"

  # an opcode the LU does not implement comes back as CHECK CONDITION (not a hang)
  out=$(timeout 20 sg_raw -v "$DEV" c1 00 00 00 00 00 2>&1); rc=$?
  echo "$out"
  if [ $rc != 124 ] && echo "$out" | grep -qi 'check condition' && echo "$out" | grep -qi 'illegal request'; then
    step unknown-opcode ok ""
  else
    step unknown-opcode fail "rc=$rc"
  fi

  # 3. ext4: mkfs, mount, write files, umount, fsck clean
  mkdir -p /mnt/t
  if mkfs.ext4 -q -F -E nodiscard -L fileio "$DEV" && mount "$DEV" /mnt/t; then
    cp -r "$REPO/src" /mnt/t/src
    cp "$PATTERN" /mnt/t/pattern.bin
    (cd /mnt/t && find src -type f | sort | xargs sha256sum) > /tmp/src.sums
    cp /tmp/src.sums "$RESULTS/src.sums"
    sync
    umount /mnt/t
    if fsck.ext4 -fn "$DEV"; then step ext4 ok ""; else step ext4 fail "fsck rc=$?"; fi
  else
    step ext4 fail "mkfs or mount failed"
  fi

  # 4. kill -9, restart: the stale backstore is re-attached and the export (and /dev/sdX) kept
  kill -9 $PID; wait $PID 2>/dev/null
  ls /sys/kernel/config/target/core/user_*/ 2>/dev/null
  if start_target /tmp/t2.out --link tcmu --export local disk1 "$IMG"; then
    echo "$SERVING"; cat /tmp/t2.out.err
    DEV2=$(json "$SERVING" url); RE=$(json "$SERVING" link.reattached)
    if [ "$RE" = true ] && [ "$DEV2" = "$DEV" ]; then step restart-reattach ok "$DEV2"; else step restart-reattach fail "reattached=$RE dev=$DEV2 was $DEV"; fi
    if mount -o ro "$DEV2" /mnt/t && (cd /mnt/t && sha256sum -c --quiet /tmp/src.sums) &&
       [ "$(sha256sum < /mnt/t/pattern.bin | cut -d' ' -f1)" = "$(cat "$RESULTS/pattern.sha256")" ]; then
      umount /mnt/t; step restart-data ok ""
    else
      umount /mnt/t 2>/dev/null; step restart-data fail ""
    fi
    fsck.ext4 -fn "$DEV2" > /dev/null && step restart-fsck ok "" || step restart-fsck fail ""
    # 5. clean shutdown removes the export and the backstore
    kill -TERM $PID; wait $PID; rc=$?
    cat /tmp/t2.out
    left=$(ls -d /sys/kernel/config/target/core/user_*/disk1 /sys/kernel/config/target/loopback/naa.* 2>/dev/null)
    if [ $rc = 0 ] && [ -z "$left" ] && [ ! -b "$DEV2" ]; then step teardown ok ""; else step teardown fail "rc=$rc left=$left"; fi
  else
    step restart-reattach fail "second run did not start"
  fi
fi

# ---- 6. LIO iSCSI export of the TCMU LUN, libiscsi tools in the guest ---------------------------
IMG2=$RESULTS/disk2.img
rm -f "$IMG2"; truncate -s 32M "$IMG2"
IQN=iqn.2026-11.org.fileio-tgt:disk2
if start_target /tmp/t3.out --link tcmu --export iscsi --portal 127.0.0.1:3260 disk2 "$IMG2"; then
  URL=$(json "$SERVING" url); echo "$SERVING"; cat /tmp/t3.out.err
  [ "$URL" = "iscsi://127.0.0.1:3260/$IQN/0" ] && step iscsi-url ok "$URL" || step iscsi-url fail "$URL"
  out=$(timeout 60 iscsi-inq "$URL" 2>&1); echo "$out"
  echo "$out" | grep -q '^Peripheral Device Type:DIRECT_ACCESS' && echo "$out" | grep -q '^Product:disk2' && step iscsi-inq ok "" || step iscsi-inq fail ""
  out=$(timeout 60 iscsi-readcapacity16 "$URL" 2>&1); echo "$out"
  echo "$out" | grep -q 'LOGICAL BLOCK LENGTH IN BYTES:512' && echo "$out" | grep -q "RETURNED LOGICAL BLOCK ADDRESS:$(( (32 << 20) / 512 - 1 ))" && step iscsi-readcapacity16 ok "" || step iscsi-readcapacity16 fail ""
  head -c $((8 << 20)) "$PATTERN" > /tmp/p8.bin; truncate -s 32M /tmp/p8.bin
  if timeout 120 qemu-img convert -n -f raw -O raw /tmp/p8.bin "$URL" && timeout 120 qemu-img compare -f raw -F raw /tmp/p8.bin "$URL"; then
    step iscsi-qemu-img ok ""
  else
    step iscsi-qemu-img fail ""
  fi
  kill -TERM $PID; wait $PID; rc=$?
  left=$(ls -d /sys/kernel/config/target/iscsi/iqn.* /sys/kernel/config/target/core/user_*/disk2 2>/dev/null)
  [ $rc = 0 ] && [ -z "$left" ] && step iscsi-teardown ok "" || step iscsi-teardown fail "rc=$rc left=$left"
else
  step iscsi-url fail "did not start"
fi
# ---- 7. the embedded iSCSI target with the Linux kernel initiator (open-iscsi + iscsi_tcp) -----
IMG3=$RESULTS/disk3.img
rm -f "$IMG3"; truncate -s 32M "$IMG3"
IQN3=iqn.2026-11.org.fileio-tgt:disk3
P3=127.0.0.1:3261
if start_target /tmp/t4.out --link iscsi --portal $P3 disk3 "$IMG3"; then
  modprobe iscsi_tcp
  mkdir -p /run/lock/iscsi /var/lib/iscsi /etc/iscsi
  grep -qs '^InitiatorName=' /etc/iscsi/initiatorname.iscsi || echo "InitiatorName=iqn.2026-11.org.fileio-tgt.test:vm" > /etc/iscsi/initiatorname.iscsi
  # iscsid signals its own process group when it stops: give it one of its own
  setsid iscsid -f > /tmp/iscsid.log 2>&1 &
  for _ in $(seq 1 50); do iscsiadm -m session > /dev/null 2>&1; [ $? -ne 4 ] && break; sleep 0.1; done
  out=$(timeout 60 iscsiadm -m discovery -t sendtargets -p $P3 2>&1); echo "$out"
  echo "$out" | grep -qx "$P3,1 $IQN3" && step openiscsi-discovery ok "" || step openiscsi-discovery fail "$out"
  if timeout 60 iscsiadm -m node -T $IQN3 -p $P3 --login; then
    SD3=
    for _ in $(seq 1 100); do
      for b in /sys/block/sd*; do
        [ "$(cat $b/device/model 2>/dev/null | tr -d ' ')" = disk3 ] && [ "$(cat $b/device/vendor 2>/dev/null | tr -d ' ')" = FILEIO ] && SD3=/dev/${b##*/}
      done
      [ -n "$SD3" ] && [ -b "$SD3" ] && break
      sleep 0.1
    done
    if [ -n "$SD3" ] && [ -b "$SD3" ] && [ "$(blockdev --getsize64 $SD3)" = $((32 << 20)) ]; then step openiscsi-login ok "$SD3"; else step openiscsi-login fail "no disk3 block device (${SD3:-none})"; fi
    if [ -n "$SD3" ] && dd if="$PATTERN" of=$SD3 bs=1M oflag=direct conv=fsync status=none \
       && [ "$(dd if=$SD3 bs=1M count=16 iflag=direct status=none | sha256sum | cut -d' ' -f1)" = "$(cat $RESULTS/pattern.sha256)" ]; then
      step openiscsi-dd ok ""
    else
      step openiscsi-dd fail ""
    fi
    timeout 60 iscsiadm -m node -T $IQN3 -p $P3 --logout && step openiscsi-logout ok "" || step openiscsi-logout fail ""
  else
    step openiscsi-login fail "iscsiadm --login failed"
  fi
  iscsiadm -k 0 > /dev/null 2>&1 || true
  cat /tmp/iscsid.log
  kill -TERM $PID; wait $PID; rc=$?
  cat /tmp/t4.out /tmp/t4.out.err
  [ $rc = 0 ] && step openiscsi-teardown ok "" || step openiscsi-teardown fail "rc=$rc"
else
  step openiscsi-discovery fail "embedded target did not start"
fi

dmesg | grep -iE 'tcmu|target|ring|uio|iscsi' | tail -20
step done ok ""
