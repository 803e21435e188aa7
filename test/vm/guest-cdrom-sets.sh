#!/bin/bash
# Runs inside the test VM (kernel/vm): a folder of ISOs and an optical jukebox served with
# --link tcmu --export local, seen by the kernel's sr, sg and ch drivers. ISOs come from the host
# ($RESULTS/iso/*.iso, made by test/vm/cdrom-sets.test.ts with genisoimage; *.sha256 beside them).
# Every step appends "STEP <name> <ok|fail> <seconds> <detail>" to $RESULTS/steps.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"

ip link set lo up 2>/dev/null || true
modprobe target_core_user && modprobe tcm_loop && modprobe sr_mod && modprobe sg && modprobe ch || { step modules fail "modprobe failed"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
step modules ok "$(uname -r)"

ISO=$RESULTS/iso
sum_of() { cut -d' ' -f1 < "$ISO/$1.sha256"; }
# dev_sum DEV NAME: sha256 of the first size-of-NAME.iso bytes of DEV
dev_sum() { dd if="$1" bs=2048 2>/dev/null | head -c "$(stat -c %s "$ISO/$2.iso")" | sha256sum | cut -d' ' -f1; }
# url_of LUN: the device node a serving line gives for LUN
url_of() { grep '"event":"serving"' "$OUT" | node -e 'const ls=require("fs").readFileSync(0,"utf8").trim().split("\n").map(JSON.parse); const l=ls.find(e=>e.lun===Number(process.argv[1])); console.log(l?l.url:"")' "$1"; }
wait_for() { # wait_for TRIES CMD...: retries CMD every 0.2 s
  local n=$1; shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.2; done
  return 1
}

# ---- a folder of ISOs as drives ---------------------------------------------------------------
DVDS=$RESULTS/dvds; mkdir -p "$DVDS"
cp "$ISO/alpha.iso" "$ISO/beta.iso" "$DVDS/"
OUT=$RESULTS/dvds.out
if SERVING_COUNT=2 START_TRIES=1200 start_target "$OUT" --link tcmu --export local --control /tmp/dvds.sock --type cdrom dvds "$DVDS/"; then
  cat "$OUT"
  SR0=$(url_of 0); SR1=$(url_of 1)
  [ -b "$SR0" ] && [ -b "$SR1" ] && step folder-serving ok "$SR0 $SR1" || step folder-serving fail "lun0=$SR0 lun1=$SR1"
else
  step folder-serving fail "no serving lines: $(tail -3 "$OUT.err" | tr '\n' ' ')"
fi

if [ -b "${SR0:-}" ]; then
  ok=1
  [ "$(dev_sum "$SR0" alpha)" = "$(sum_of alpha)" ] || ok=0
  [ "$(dev_sum "$SR1" beta)" = "$(sum_of beta)" ] || ok=0
  mkdir -p /mnt/cd
  mount -t iso9660 -o ro "$SR0" /mnt/cd && { [ "$(cat /mnt/cd/alpha.txt)" = "disc alpha" ] || ok=0; umount /mnt/cd; } || ok=0
  [ $ok = 1 ] && step folder-read ok "" || step folder-read fail ""

  # a third image copied in (temp name, then rename): a new LUN, a new /dev/srN from tcm_loop
  cp "$ISO/gamma.iso" "$DVDS/.gamma.part" && mv "$DVDS/.gamma.part" "$DVDS/gamma.iso"
  if wait_for 300 grep -q '"lun":2' "$OUT"; then
    SR2=$(url_of 2)
    [ -b "$SR2" ] && [ "$(dev_sum "$SR2" gamma)" = "$(sum_of gamma)" ] && step folder-add ok "$SR2" || step folder-add fail "url=$SR2"
  else
    step folder-add fail "no serving line for LUN 2: $(tail -3 "$OUT.err" | tr '\n' ' ')"
  fi

  # removed: the drive has no medium (sr answers ENOMEDIUM); returned: readable again
  rm "$DVDS/beta.iso"
  if wait_for 100 sh -c "! dd if=$SR1 of=/dev/null bs=2048 count=1 2>/dev/null"; then
    err=$(dd if="$SR1" of=/dev/null bs=2048 count=1 2>&1)
    echo "$err" | grep -q 'No medium found' && step folder-remove ok "" || step folder-remove fail "$err"
  else
    step folder-remove fail "still readable"
  fi
  cp "$ISO/beta.iso" "$DVDS/beta.iso"
  wait_for 100 dd if="$SR1" of=/dev/null bs=2048 count=1 2>/dev/null
  [ "$(dev_sum "$SR1" beta)" = "$(sum_of beta)" ] && step folder-return ok "" || step folder-return fail ""
fi
kill -TERM "$PID" 2>/dev/null; wait "$PID"; rc=$?
left=$(ls /sys/kernel/config/target/core 2>/dev/null | grep -c '^user_' || true)
[ $rc = 0 ] && [ "$left" = 0 ] && step folder-teardown ok "" || step folder-teardown fail "exit $rc, $left user HBAs left"

# ---- an optical jukebox -----------------------------------------------------------------------
IMAGES=$RESULTS/images; mkdir -p "$IMAGES"
cp "$ISO/alpha.iso" "$ISO/beta.iso" "$IMAGES/"
cat > "$RESULTS/jb.json" <<J
{ "libraries": [ { "name": "jb", "media": "optical", "images": "$IMAGES", "drives": 1, "slots": 4, "mailSlots": 0 } ] }
J
OUT=$RESULTS/jb.out
CHG=; SR=
if SERVING_COUNT=2 START_TRIES=1200 start_target "$OUT" --link tcmu --export local --control /tmp/jb.sock --config "$RESULTS/jb.json"; then
  cat "$OUT"
  for d in /sys/class/scsi_generic/sg*; do [ "$(cat "$d/device/type")" = 8 ] && CHG=/dev/$(basename "$d"); done
  SR=$(url_of 1)
fi
if [ -n "$CHG" ] && [ -b "$SR" ]; then
  # LIO queues REPORTED LUNS DATA HAS CHANGED (3F/0E) on the changer as the drive LUN is linked: take it first
  sg_turs "$CHG" >/dev/null 2>&1; sg_turs "$CHG" >/dev/null 2>&1
  out=$(mtx -f "$CHG" status 2>&1); echo "$out"
  echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 1:Full :VolumeTag=alpha' &&
    echo "$out" | grep -q 'Storage Element 2:Full :VolumeTag=beta' && step jukebox-status ok "$CHG $SR" || step jukebox-status fail ""

  ok=1
  mtx -f "$CHG" load 2 0 || ok=0
  mount -t iso9660 -o ro "$SR" /mnt/cd && { [ "$(cat /mnt/cd/beta.txt)" = "disc beta" ] || ok=0; umount /mnt/cd; } || ok=0
  [ "$(dev_sum "$SR" beta)" = "$(sum_of beta)" ] || ok=0
  [ $ok = 1 ] && step jukebox-load ok "" || step jukebox-load fail ""

  # eject from the initiator: the tray opens, the disc stays in the drive element until mtx unload
  ok=1
  eject "$SR" || ok=0
  mtx -f "$CHG" status | grep -q 'Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = beta' || ok=0
  mtx -f "$CHG" unload 2 0 || ok=0
  out=$(mtx -f "$CHG" status 2>&1)
  echo "$out" | grep -q 'Data Transfer Element 0:Empty' && echo "$out" | grep -q 'Storage Element 2:Full :VolumeTag=beta' || ok=0
  [ $ok = 1 ] && step jukebox-eject-unload ok "" || step jukebox-eject-unload fail "$out"

  ok=1
  mtx -f "$CHG" load 1 0 || ok=0
  [ "$(dev_sum "$SR" alpha)" = "$(sum_of alpha)" ] || ok=0
  [ $ok = 1 ] && step jukebox-swap ok "" || step jukebox-swap fail ""
else
  step jukebox-status fail "changer=$CHG drive=$SR $(tail -3 "$OUT.err" | tr '\n' ' ')"
fi
kill -TERM "$PID" 2>/dev/null; wait "$PID"; rc=$?
left=$(ls /sys/kernel/config/target/core 2>/dev/null | grep -c '^user_' || true)
[ $rc = 0 ] && [ "$left" = 0 ] && step jukebox-teardown ok "" || step jukebox-teardown fail "exit $rc, $left user HBAs left"
step done ok ""
