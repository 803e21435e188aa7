#!/bin/bash
# Runs inside the test VM (kernel/vm): two cdrom drives served with --link tcmu --export local,
# dvd1 with a CD-sized ISO and dvd2 empty, used by the kernel's sr driver: mount -t iso9660 and
# sha256 of every file, eject (util-linux) and close the tray, PREVENT while mounted, and media
# changes at run time with `fileio_tgt media` seen through the block layer's GET EVENT STATUS
# NOTIFICATION polling (DISK_MEDIA_CHANGE / DISK_EJECT_REQUEST uevents) and the new capacity.
# test/vm/cdrom.test.ts made the images on the host: $RESULTS/a.iso (CD-ROM size) and b.iso (a
# small file system padded with a sparse tail to 800 MiB: above the CD limit, so a DVD-ROM), with
# a.sums / b.sums listing every file's sha256. Every step appends
# "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps; cdrom.test.ts asserts on them.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"
source "$REPO/kernel/vm/guest-media-lib.sh"

A=$RESULTS/a.iso
B=$RESULTS/b.iso
A_BYTES=$(stat -c %s "$A")
B_BYTES=$(stat -c %s "$B")
CTL=/run/fileio_tgt-cd.sock # not on the 9p share: it cannot hold a Unix socket
MEDIA="$CLI media --control $CTL"
UEVENTS=/tmp/uevents

ip link set lo up 2>/dev/null || true
if modprobe target_core_user && modprobe tcm_loop && modprobe sr_mod && modprobe isofs; then
  step modules ok "$(uname -r)"
else
  step modules fail "modprobe failed"; exit 1
fi
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config

# Every kernel uevent as one line: "<action> <devname> MC=<DISK_MEDIA_CHANGE> ER=<DISK_EJECT_REQUEST>".
: > "$UEVENTS"
busybox uevent /bin/sh -c 'echo "$ACTION ${DEVNAME:-} MC=${DISK_MEDIA_CHANGE:-} ER=${DISK_EJECT_REQUEST:-}" >> '"$UEVENTS" &
UEV_PID=$!

# srdev NAME: the sr block device of our LU NAME: a SCSI device of type 5 under tcm_loop whose
# INQUIRY product is NAME.
srdev() {
  local d
  for d in /sys/bus/scsi/devices/*; do
    [ "$(cat "$d/type" 2>/dev/null)" = 5 ] || continue
    case $(readlink -f "$d") in */tcm_loop*) ;; *) continue ;; esac
    [ "$(sed 's/ *$//' "$d/model")" = "$1" ] || continue
    ls "$d/block" 2>/dev/null | head -1
  done
}
status_of() { $MEDIA status "$1" --json; } # {"ok":true,"tray":...,"ready":...,"file":...,"prevented":...}
bytes_of() { echo $(( $(cat "/sys/block/$1/size") * 512 )); }
# uev_count DEV MC|ER: how many change uevents of DEV carried DISK_MEDIA_CHANGE=1 / DISK_EJECT_REQUEST=1
uev_count() { grep -c "^change $1 .*$2=1" "$UEVENTS"; }
# wait_uev DEV MC|ER BEFORE: waits (10 s at most) until uev_count exceeds BEFORE
wait_uev() {
  for _ in $(seq 1 100); do
    [ "$(uev_count "$1" "$2")" -gt "$3" ] && return 0
    sleep 0.1
  done
  return 1
}
# ack DEV: opens DEV without waiting for a medium (no autoclose), which clears the kernel's pending
# media events as udev's probe would; until then a further change raises no new uevent
ack() { dd if="/dev/$1" iflag=nonblock count=0 status=none 2>/dev/null; true; }
profile_of() { sg_get_config -c "/dev/$1" 2>&1 | sed -n 's/^Current profile: //p'; }
# zero_block DEV LBA: the 2048-byte block at LBA reads back, all zeros (cmp fails on a short read)
zero_block() { dd if="/dev/$1" bs=2048 skip="$2" count=1 2>/dev/null | cmp -s -n 2048 - /dev/zero; }
mkdir -p /mnt/cd

if SERVING_COUNT=2 start_target /tmp/cd.out --control "$CTL" --type cdrom --link tcmu --export local dvd1 "$A" dvd2 -; then
  cat /tmp/cd.out
  SR1=$(srdev dvd1)
  SR2=$(srdev dvd2)
  url1=$(json "$(grep '"device":"dvd1"' /tmp/cd.out)" url)
  url2=$(json "$(grep '"device":"dvd2"' /tmp/cd.out)" url)
  if [ -n "$SR1" ] && [ -n "$SR2" ] && [ "$url1" = "/dev/$SR1" ] && [ "$url2" = "/dev/$SR2" ]; then
    step devices ok "dvd1=/dev/$SR1 dvd2=/dev/$SR2"
  else
    step devices fail "sysfs dvd1=$SR1 dvd2=$SR2, serving $url1 $url2"
  fi
else
  step devices fail "no serving lines"; cat /tmp/cd.out.err; exit 1
fi
[ -n "$SR1" ] && [ -n "$SR2" ] || exit 1
# the block layer polls GET EVENT STATUS NOTIFICATION every 200 ms; let the events of the
# attach (power on, first medium) drain before counting
for s in $SR1 $SR2; do echo 200 > "/sys/block/$s/events_poll_msecs"; done
sleep 1.5

# LIO answers PERSISTENT RESERVE IN itself; a bad service action gets LIO's own sense data, in
# fixed format like ours, also for the empty drive (whose backstore LIO sizes from dev_size)
ok=1; detail=
for s in $SR1 $SR2; do
  out=$(sg_raw "/dev/$s" 5e 1f 00 00 00 00 00 00 10 00 2>&1)
  echo "$out" | grep -q 'Fixed format, current; Sense key: Illegal Request' && echo "$out" | grep -qi 'invalid field in cdb' || { ok=0; detail="$detail $s: $(echo "$out" | tr '\n' ' ')"; }
done
[ $ok = 1 ] && step lio-sense ok "" || step lio-sense fail "$detail"

# ---- dvd1: the CD image, mounted
got=$(bytes_of "$SR1"); dev=$(blockdev --getsize64 "/dev/$SR1")
[ "$got" = "$A_BYTES" ] && [ "$dev" = "$A_BYTES" ] && step capacity-cd ok "$got bytes" || step capacity-cd fail "sysfs $got, blockdev $dev, image $A_BYTES"

if mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  step mount-cd ok "$(wc -l < "$RESULTS/a.sums") files"
else
  step mount-cd fail "$(dmesg | tail -5 | tr '\n' ' ')"
fi
p=$(profile_of "$SR1"); [ "$p" = CD-ROM ] && step profile-cd ok "$p" || step profile-cd fail "current profile '$p'"

# sr locks the tray while the medium is in use: PREVENT reached our drive, which then refuses
# START STOP UNIT LoEj from the initiator (05/53/02) and the operator's eject (an eject request
# event instead, which the kernel turns into DISK_EJECT_REQUEST)
st=$(status_of dvd1); echo "$st"
[ "$(json "$st" prevented)" = true ] && step locked ok "" || step locked fail "$st"

# START STOP UNIT with LoEj=1 straight to the drive (no ALLOW first, unlike the CDROMEJECT
# ioctl, which unlocks the tray and then ejects, as root may even while mounted)
out=$(sg_raw "/dev/$SR1" 1b 00 00 00 02 00 2>&1); echo "sg_raw: $out"
st=$(status_of dvd1)
if echo "$out" | grep -q 'Check Condition' && echo "$out" | grep -qi 'medium removal prevented' && [ "$(json "$st" tray)" = closed ] && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  step eject-prevented ok ""
else
  step eject-prevented fail "sg_raw '$out', $st"
fi

n=$(uev_count "$SR1" ER)
out=$($MEDIA eject dvd1 2>&1); rc=$?; echo "media eject: rc=$rc $out"
st=$(status_of dvd1)
if [ $rc != 0 ] && echo "$out" | grep -q prevented && wait_uev "$SR1" ER "$n" && [ "$(json "$st" tray)" = closed ] && [ "$(json "$st" ready)" = true ]; then
  step host-eject-request ok ""
else
  step host-eject-request fail "rc=$rc '$out' ER uevents $(uev_count "$SR1" ER) (were $n) $st"
fi

# ---- the initiator ejects and closes the tray (util-linux eject: CDROMEJECT/CDROMCLOSETRAY,
# which sr turns into ALLOW MEDIUM REMOVAL and START STOP UNIT)
umount /mnt/cd
n=$(uev_count "$SR1" MC)
eject "/dev/$SR1"; rc=$?
st=$(status_of dvd1); echo "$st"
if [ $rc = 0 ] && [ "$(json "$st" tray)" = open ] && [ "$(json "$st" ready)" = false ] && [ "$(json "$st" file)" = "$A" ] && wait_uev "$SR1" MC "$n"; then
  step initiator-eject ok "tray open, the disc stays in it; DISK_MEDIA_CHANGE (media removal)"
else
  step initiator-eject fail "eject rc=$rc, $st, MC uevents $(uev_count "$SR1" MC) (were $n)"
fi

# the cdrom layer closes an open tray when the device is opened (autoclose, the default)
if mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd && st=$(status_of dvd1) && [ "$(json "$st" tray)" = closed ] && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  step autoclose ok ""
else
  step autoclose fail "$(status_of dvd1)"
fi
umount /mnt/cd

# without autoclose: an open tray is no medium, until eject -t closes it
echo 0 > /proc/sys/dev/cdrom/autoclose
eject "/dev/$SR1"
out=$(mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd 2>&1); mrc=$?
eject -t "/dev/$SR1"; rc=$?
st=$(status_of dvd1)
if [ $mrc != 0 ] && echo "$out" | grep -qi 'no medium' && [ $rc = 0 ] && [ "$(json "$st" tray)" = closed ] && [ "$(json "$st" ready)" = true ] &&
   mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd && sums_ok /mnt/cd "$RESULTS/a.sums"; then
  step initiator-close ok ""
else
  step initiator-close fail "mount on the open tray rc=$mrc '$out'; eject -t rc=$rc, $st"
fi
echo 1 > /proc/sys/dev/cdrom/autoclose
umount /mnt/cd

# ---- the operator loads the DVD image into the open tray. The block layer reports a change
# once until someone opens the device (udev would, to probe it): wait for the removal's event,
# then open without closing the tray (O_NONBLOCK skips autoclose) to acknowledge it
n=$(uev_count "$SR1" MC)
eject "/dev/$SR1"
wait_uev "$SR1" MC "$n" || echo "no DISK_MEDIA_CHANGE for the removal"
ack "$SR1"
n=$(uev_count "$SR1" MC)
$MEDIA load dvd1 "$B"; rc=$?
if [ $rc = 0 ] && wait_uev "$SR1" MC "$n"; then
  before=$(bytes_of "$SR1")
  dev=$(blockdev --getsize64 "/dev/$SR1") # an open revalidates the disk: READ CAPACITY
  got=$(bytes_of "$SR1")
  [ "$dev" = "$B_BYTES" ] && [ "$got" = "$B_BYTES" ] && step load-seen ok "DISK_MEDIA_CHANGE; size $before -> $got" || step load-seen fail "blockdev $dev, sysfs $got, image $B_BYTES"
else
  step load-seen fail "load rc=$rc, MC uevents $(uev_count "$SR1" MC) (were $n)"
  tail -20 "$UEVENTS"; dmesg | tail -20
fi

if mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd && sums_ok /mnt/cd "$RESULTS/b.sums"; then
  step mount-dvd ok "$(wc -l < "$RESULTS/b.sums") files"
else
  step mount-dvd fail "$(dmesg | tail -5 | tr '\n' ' ')"
fi
p=$(profile_of "$SR1"); [ "$p" = DVD-ROM ] && step profile-dvd ok "$p" || step profile-dvd fail "current profile '$p'"
# the last block lies far beyond the size the LIO backstore was created with (the CD image):
# LIO does not range-check passthrough commands, READ CAPACITY and the reads are ours
last=$((B_BYTES / 2048 - 1))
zero_block "$SR1" "$last" && zero_block "$SR1" 360000 && step read-dvd-end ok "LBA $last" || step read-dvd-end fail "LBA $last"

# ---- swap while mounted: refused (the tray is locked) until forced
n=$(uev_count "$SR1" ER)
out=$($MEDIA swap dvd1 "$A" 2>&1); rc=$?
st=$(status_of dvd1)
if [ $rc != 0 ] && echo "$out" | grep -q prevented && wait_uev "$SR1" ER "$n" && [ "$(json "$st" file)" = "$B" ]; then
  step swap-refused ok ""
else
  step swap-refused fail "rc=$rc '$out' $st"
fi

n=$(uev_count "$SR1" MC)
$MEDIA swap dvd1 "$A" --force; rc=$?
if [ $rc = 0 ] && wait_uev "$SR1" MC "$n"; then seen=1; else seen=0; fi
umount /mnt/cd
if [ $seen = 1 ] && mount -t iso9660 -o ro "/dev/$SR1" /mnt/cd && sums_ok /mnt/cd "$RESULTS/a.sums" && [ "$(bytes_of "$SR1")" = "$A_BYTES" ] && [ "$(profile_of "$SR1")" = CD-ROM ]; then
  step swap-forced ok ""
else
  step swap-forced fail "swap rc=$rc, uevent seen=$seen, size $(bytes_of "$SR1")"
fi
umount /mnt/cd

# ---- dvd2: started empty (FILE "-"), then loaded
st=$(status_of dvd2)
out=$(mount -t iso9660 -o ro "/dev/$SR2" /mnt/cd 2>&1); mrc=$?
bout=$(blockdev --getsize64 "/dev/$SR2" 2>&1); brc=$?
if [ "$(json "$st" ready)" = false ] && [ "$(json "$st" file)" = null ] && [ $mrc != 0 ] && echo "$out" | grep -qi 'no medium' && [ $brc != 0 ] && echo "$bout" | grep -qi 'no medium'; then
  step empty-drive ok "sysfs size $(cat "/sys/block/$SR2/size") (sr's guess without a medium)"
else
  step empty-drive fail "$st; mount rc=$mrc $out; blockdev rc=$brc $bout"
fi

n=$(uev_count "$SR2" MC)
$MEDIA load dvd2 "$B"; rc=$?
if [ $rc = 0 ] && wait_uev "$SR2" MC "$n" && [ "$(blockdev --getsize64 "/dev/$SR2")" = "$B_BYTES" ] &&
   mount -t iso9660 -o ro "/dev/$SR2" /mnt/cd && sums_ok /mnt/cd "$RESULTS/b.sums" && zero_block "$SR2" "$last"; then
  step empty-load ok ""
else
  step empty-load fail "load rc=$rc, MC uevents $(uev_count "$SR2" MC) (were $n), size $(bytes_of "$SR2")"
fi
umount /mnt/cd

kill -TERM "$PID"; wait "$PID"; rc=$?
if [ $rc = 0 ] && [ ! -e /sys/kernel/config/target/core/user_42/dvd1 ] && [ ! -e /sys/kernel/config/target/core/user_42/dvd2 ] && [ ! -e "/sys/block/$SR1" ]; then
  step teardown ok ""
else
  step teardown fail "rc=$rc $(ls /sys/kernel/config/target/core/user_42 2>&1 | tr '\n' ' ')"
fi
cat /tmp/cd.out.err
kill "$UEV_PID" 2>/dev/null || true
step done ok ""
