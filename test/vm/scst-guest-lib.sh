#!/bin/bash
# Sourced by test/vm/guest-scst.sh after kernel/vm/guest-lib.sh, with SYS (/sys/kernel/scst_tgt),
# LOCAL (scst_local's target) and RESULTS set: kstep (a STEP line that also checks the step's
# kernel log), find_sd (the /dev/sdX scst_local made of a device), bounded waits, stop_target.
: > /tmp/kfindings

# kstep NAME STATUS DETAIL: a STEP line, failed when the kernel logged KERNEL_BAD (guest-lib.sh)
# since the previous kstep. dmesg -c reads and clears, so each step sees only its own lines; all
# go to dmesg.log.
kstep() {
  local name=$1 st=$2 new bad; shift 2
  new=$(dmesg -c 2>/dev/null)
  printf '%s\n' "=== after $name" "$new" >> "$RESULTS/dmesg.log"
  bad=$(printf '%s\n' "$new" | grep -E "$KERNEL_BAD" | head -3 | tr '\n' ' ')
  if [ -n "$bad" ]; then
    echo "--- kernel log during $name:"; printf '%s\n' "$new" | tail -60
    echo "$name: $bad" >> /tmp/kfindings
    step "$name" fail "$* kernel: ${bad:0:300}"
  else
    [ "$st" = ok ] || { echo "--- kernel log during $name:"; printf '%s\n' "$new" | tail -30; }
    step "$name" "$st" "$*"
  fi
}

# find_sd NAME: the /dev/sdX with our INQUIRY (vendor FILEIO, product NAME) on an scst_local host
# (under its root device /sys/devices/scst_local; the host template sets no proc_name) in state
# running; polls for 30 s, rescanning the scst_local hosts once after 10 s.
find_sd() {
  local b h end=$((SECONDS + 30)) rescan=$((SECONDS + 10))
  SD=
  while [ $SECONDS -lt $end ]; do
    for b in /sys/block/sd*; do
      [ -e "$b/device/model" ] || continue
      [ "$(tr -d ' ' < "$b/device/vendor")" = FILEIO ] && [ "$(tr -d ' ' < "$b/device/model")" = "$1" ] || continue
      [ "$(cat "$b/device/state")" = running ] || continue
      case $(readlink -f "$b") in /sys/devices/scst_local/*) ;; *) continue ;; esac
      SD=/dev/${b##*/}
      [ -b "$SD" ] && return 0
    done
    if [ $SECONDS -ge $rescan ]; then
      rescan=$end
      echo "--- no sdX after 10 s: rescanning the scst_local hosts"
      for h in /sys/devices/scst_local/*/host*/scsi_host/host*; do echo "- - -" > "$h/scan"; done
    fi
    sleep 0.2
  done
  SD=
  return 1
}
# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds (0) or SECONDS of wall
# time have passed (1). A deadline, not a count: under TCG each poll's forks take longer than its sleep.
wait_for() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.2; done; }
gone() { [ ! -e "$1" ]; }
exited() { ! kill -0 "$1" 2>/dev/null; }
# stop_target: SIGTERM, then up to 60 s for the exit; RC is its status (or "timeout", then kill -9).
stop_target() { kill -TERM $PID; if wait_for 60 exited $PID; then wait $PID; RC=$?; else RC=timeout; kill -9 $PID; wait $PID; fi; }
wait_gone() { wait_for 30 gone "$1"; }
# add_local_lun: LUN 0 of scst_local's target is disk1; sets SD.
add_local_lun() { echo "add disk1 0" > "$LOCAL/luns/mgmt" && find_sd disk1; }
sum() { sha256sum | cut -d' ' -f1; }
tlog() { cat /tmp/t$1.out /tmp/t$1.out.err 2>/dev/null | tail -${2:-20}; }
