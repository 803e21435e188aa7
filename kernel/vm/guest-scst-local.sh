#!/bin/bash
# Sourced by guest scripts that drive the real SCST (test/vm/guest-scst-*.sh), after guest-lib.sh:
#   source "$REPO/kernel/vm/guest-scst-local.sh"
# Needs SCST_DIR: the folder kernel/vm/scst.mjs built scst.ko, scst_user.ko and scst_local.ko into
# (on the host root, which the guest sees read-only over 9p). Defines scst_load, the scst_local
# helpers (scst_local_target, scst_local_lun, scst_local_session, scsi_dev), and kernel_clean /
# kstep, which fail a step when the kernel log gained a BUG, Oops, WARNING, hung task or general
# protection fault since the previous check.
SCST_SYSFS=/sys/kernel/scst_tgt
SCST_LOCAL=$SCST_SYSFS/targets/scst_local
KERNEL_BAD_SEEN=0

# scst_load: insmod the stock SCST (core, user-space device handler, local target driver) in
# dependency order. scst_local comes up without its default target (add_default_tgt=0): each
# suite makes its own. /var/lib/scst/pr is what SCST's make install would create: without it
# every REGISTER_DEVICE fails ENOENT (scst_pr_init_dev: the PR file's parent directory).
scst_load() {
  local m
  : "${SCST_DIR:?SCST_DIR must name the folder of the SCST modules}"
  # the kernel's own modules they need (scst.ko: crc-t10dif, dlm, scsi_mod) come from modprobe
  for m in $(modinfo -F depends "$SCST_DIR"/scst.ko "$SCST_DIR"/scst_user.ko "$SCST_DIR"/scst_local.ko | tr ',' '\n' | sort -u); do
    case $m in scst | scst_user) ;; *) modprobe "$m" || { echo "modprobe $m failed"; return 1; } ;; esac
  done
  for m in scst scst_user; do
    insmod "$SCST_DIR/$m.ko" || { echo "insmod $m.ko failed"; return 1; }
  done
  insmod "$SCST_DIR/scst_local.ko" add_default_tgt=0 || { echo "insmod scst_local.ko failed"; return 1; }
  mkdir -p /var/lib/scst/pr
  local _
  for _ in $(seq 1 50); do [ -c /dev/scst_user ] && return 0; sleep 0.1; done
  echo "no /dev/scst_user"; return 1
}

# scst_local_target TGT: a scst_local target without a session (so no SCSI host is scanned before
# its LUNs are in place; scst_local_session then scans them in one go)
scst_local_target() { echo "add_target $1" > "$SCST_LOCAL/mgmt"; }
# scst_local_lun TGT DEVICE LUN: maps an SCST device
scst_local_lun() { echo "add $2 $3" > "$SCST_LOCAL/$1/luns/mgmt"; }
# scst_local_session TGT SESS: a session, i.e. a SCSI host whose target scst_local scans
# (scst_local_add_adapter -> scsi_scan_target)
scst_local_session() { echo "add_session $1 $2" > "$SCST_LOCAL/mgmt"; }

# scsi_dev TGT SESS LUN TYPE: waits (10 s at most) for the SCSI device at LUN of the SCSI host of
# scst_local session SESS of target TGT, with peripheral TYPE; prints its sysfs folder
scsi_dev() {
  local host d _
  for _ in $(seq 1 100); do
    host=$(basename "$(readlink -f "$SCST_LOCAL/$1/sessions/$2/host")")
    d=/sys/bus/scsi/devices/${host#host}:0:0:$3
    [ "$(cat "$d/type" 2>/dev/null)" = "$4" ] && { echo "$d"; return 0; }
    sleep 0.1
  done
  return 1
}

# kernel_clean: 0 when the kernel log gained no BUG/Oops/WARNING/hung task/general protection
# line since the last call; otherwise prints the new lines and the log's tail, returns 1
kernel_clean() {
  local n; n=$(dmesg | grep -cE "$KERNEL_BAD")
  [ "$n" -le "$KERNEL_BAD_SEEN" ] && return 0
  echo "--- kernel log: $((n - KERNEL_BAD_SEEN)) new line(s) matching $KERNEL_BAD"
  dmesg | grep -E "$KERNEL_BAD" | tail -n "$((n - KERNEL_BAD_SEEN))"
  echo "--- kernel log tail"; dmesg | tail -40
  KERNEL_BAD_SEEN=$n
  return 1
}
# kstep NAME ok|fail DETAIL...: step, failed also when the kernel log went bad during it; the
# log's tail is printed with every failure
kstep() {
  local name=$1 st=$2; shift 2
  if ! kernel_clean; then st=fail; set -- "$@" "(kernel log: $(dmesg | grep -E "$KERNEL_BAD" | tail -1))"; fi
  [ "$st" = ok ] || { echo "--- $name failed; kernel log tail"; dmesg | tail -25; }
  step "$name" "$st" "$@"
}
