#!/bin/bash
# Runs inside the test VM (kernel/vm), started by bench/tcmu.ts: the same workloads against two
# TCMU responders on one kernel, interleaved A B A B:
#   ours   = fileio_tgt --link tcmu --export local (core/user_42, tcm_loop, /dev/sdX)
#   runner = Debian's tcmu-runner, qcow handler on a raw image (core/user_7, tcm_loop, /dev/sdY)
# Both images are the same size on the guest's tmpfs; both backstores get hw_max_sectors=2048
# (1 MiB commands) and max_data_area_mb=64. Workloads per round and target: 64 MiB sequential
# write (dd bs=1M O_DIRECT conv=fsync, fresh random data every round, then verified twice: read
# back through the LUN with O_DIRECT and compared with the image file), 64 MiB sequential read
# (dd bs=1M O_DIRECT), 4 KiB random read/write with fio (libaio, iodepth 1 and 32).
# Lines go to $RESULTS/bench.tsv:
#   meta  KEY VALUE
#   dd    TARGET ROUND WORKLOAD SECONDS BYTES VERIFY(ok|fail|-) DETAIL
#   fio   TARGET ROUND WORKLOAD JSONFILE RC
#   error TARGET MESSAGE
set -u
REPO=${REPO:-$(pwd)}
RESULTS=${RESULTS:?RESULTS must name the writable share}
RUNNER_ROOT=${RUNNER_ROOT:?RUNNER_ROOT must name the unpacked tcmu-runner tree}
ROUNDS=${ROUNDS:-2}
FIO_SECS=${FIO_SECS:-4}
WARMUP_SECS=${WARMUP_SECS:-15}
SIZE_MB=${SIZE_MB:-128}
SEQ_MB=${SEQ_MB:-64}
ONLY=${ONLY:-}   # ours | runner: one target only (debugging)
OUT=$RESULTS/bench.tsv
: > "$OUT"
CFS=/sys/kernel/config/target
emit() { local IFS=$'\t'; echo "$*" >> "$OUT"; echo "BENCH $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }

emit meta script_start_uptime "$(cut -d' ' -f1 /proc/uptime)"
emit meta kernel "$(uname -r)"
emit meta guest_cpus "$(nproc)"
ip link set lo up 2>/dev/null || true
modprobe target_core_user && modprobe tcm_loop && modprobe sd_mod || { emit error all "modprobe failed"; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config

# block device of a tcm_loop TPG's LUN 0, waiting for sd to attach it
dev_of_tpg() {
  local tpg=$1 addr b
  for _ in $(seq 1 150); do
    addr=$(cat "$tpg/address" 2>/dev/null)
    if [ -n "$addr" ]; then
      b=$(ls "/sys/bus/scsi/devices/$addr:0/block" 2>/dev/null | head -1)
      [ -n "$b" ] && [ -b "/dev/$b" ] && { echo "/dev/$b"; return 0; }
    fi
    sleep 0.1
  done
  return 1
}

# ---- B: tcmu-runner (started first, so its start-up scan of /dev/uio* only sees its own device)
RDEV= OURDEV= OURPID= RPID=
if [ "$ONLY" != ours ]; then
  RIMG=/tmp/runner.img
  rm -f "$RIMG"; truncate -s ${SIZE_MB}M "$RIMG"
  mkdir -p /etc/tcmu /tmp/tcmu-log
  cp "$RUNNER_ROOT/etc/tcmu/tcmu.conf" /etc/tcmu/tcmu.conf
  BS=$CFS/core/user_7/runner
  mkdir -p "$BS"
  echo "dev_size=$((SIZE_MB << 20)),dev_config=qcow/$RIMG,hw_block_size=512,hw_max_sectors=2048,max_data_area_mb=64,nl_reply_supported=-1" > "$BS/control"
  echo 1 > "$BS/enable"
  UIO=$(grep -l "^tcm-user/7/runner/" /sys/class/uio/uio*/name | head -1 | xargs dirname | xargs basename)
  LD_LIBRARY_PATH=$RUNNER_ROOT/usr/lib/x86_64-linux-gnu:$RUNNER_ROOT/lib/x86_64-linux-gnu \
    setsid "$RUNNER_ROOT/usr/bin/tcmu-runner" --handler-path "$RUNNER_ROOT/usr/lib/x86_64-linux-gnu/tcmu-runner" \
    -l /tmp/tcmu-log > /tmp/runner.out 2>&1 &
  RPID=$!
  held=
  for _ in $(seq 1 200); do
    ls -l /proc/$RPID/fd 2>/dev/null | grep -q "/dev/$UIO\$" && { held=1; break; }
    kill -0 $RPID 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$held" ]; then
    emit error runner "tcmu-runner did not open /dev/$UIO"; cat /tmp/runner.out /tmp/tcmu-log/* 2>/dev/null
  else
    TPG=$CFS/loopback/naa.5001405bec000001/tpgt_1
    mkdir -p "$TPG/lun/lun_0"
    echo naa.5001405bec000002 > "$TPG/nexus"
    ln -s "$BS" "$TPG/lun/lun_0/runner"
    RDEV=$(dev_of_tpg "$TPG") || { emit error runner "no /dev/sdX for the tcmu-runner LUN"; RDEV=; }
  fi
  emit meta runner_version "$(LD_LIBRARY_PATH=$RUNNER_ROOT/usr/lib/x86_64-linux-gnu:$RUNNER_ROOT/lib/x86_64-linux-gnu "$RUNNER_ROOT/usr/bin/tcmu-runner" -V 2>&1 | head -1)"
  emit meta runner_dev "${RDEV:--}"
fi

# ---- A: ours
if [ "$ONLY" != runner ]; then
  OIMG=/tmp/ours.img
  rm -f "$OIMG"; truncate -s ${SIZE_MB}M "$OIMG"
  setsid node --enable-source-maps "$REPO/bin/fileio_tgt.js" --json --link tcmu --export local bench1 "$OIMG" > /tmp/ours.out 2> /tmp/ours.err &
  OURPID=$!
  for _ in $(seq 1 600); do
    SERVING=$(grep -m1 '"event":"serving"' /tmp/ours.out || true)
    [ -n "$SERVING" ] && break
    kill -0 $OURPID 2>/dev/null || break
    sleep 0.1
  done
  OURDEV=$(echo "${SERVING:-}" | grep -o '"url":"/dev/[a-z]*"' | cut -d'"' -f4)
  [ -b "${OURDEV:-/nonexistent}" ] || { emit error ours "fileio_tgt did not serve a /dev/sdX"; cat /tmp/ours.out /tmp/ours.err; OURDEV=; }
  emit meta ours_dev "${OURDEV:--}"
  [ -n "$OURDEV" ] && emit meta ours_attr "$(cat /sys/kernel/config/target/core/user_42/bench1/attrib/hw_max_sectors 2>/dev/null) $(cat /sys/kernel/config/target/core/user_42/bench1/attrib/max_data_area_mb 2>/dev/null)"
fi
[ -n "$RDEV" ] && emit meta runner_attr "$(cat $CFS/core/user_7/runner/attrib/hw_max_sectors) $(cat $CFS/core/user_7/runner/attrib/max_data_area_mb)"
emit meta setup_done_uptime "$(cut -d' ' -f1 /proc/uptime)"

declare -A DEV=([ours]=$OURDEV [runner]=$RDEV)
declare -A IMG=([ours]=/tmp/ours.img [runner]=/tmp/runner.img)
TARGETS=()
[ -n "$OURDEV" ] && TARGETS+=(ours)
[ -n "$RDEV" ] && TARGETS+=(runner)
[ ${#TARGETS[@]} -gt 0 ] || { emit error all "no target came up"; exit 1; }

seq_write() { # TARGET ROUND PATTERN
  local t=$1 r=$2 p=$3 d=${DEV[$1]} t0 t1 v=ok det=""
  t0=$(now)
  dd if="$p" of="$d" bs=1M count=$SEQ_MB oflag=direct conv=fsync status=none || det="dd rc=$?"
  t1=$(now)
  # verification (not timed): O_DIRECT read-back through the LUN, and the image file itself
  dd if="$d" bs=1M count=$SEQ_MB iflag=direct status=none | cmp -s - "$p" || { v=fail; det="$det LUN read-back differs"; }
  cmp -s -n $((SEQ_MB << 20)) "${IMG[$t]}" "$p" || { v=fail; det="$det image file differs"; }
  emit dd "$t" "$r" seqwrite "$(elapsed $t0 $t1)" $((SEQ_MB << 20)) $v "${det:--}"
}
seq_read() { # TARGET ROUND
  local d=${DEV[$1]} t0 t1 det=-
  t0=$(now)
  dd if="$d" of=/dev/null bs=1M count=$SEQ_MB iflag=direct status=none || det="dd rc=$?"
  t1=$(now)
  emit dd "$1" "$2" seqread "$(elapsed $t0 $t1)" $((SEQ_MB << 20)) - "$det"
}
run_fio() { # TARGET ROUND RW QD
  local f=$RESULTS/fio-$1-$2-$3-qd$4.json rc
  fio --name=bench --filename="${DEV[$1]}" --direct=1 --ioengine=libaio --rw=$3 --bs=4k --iodepth=$4 \
    --runtime=$FIO_SECS --ramp_time=1 --time_based --randrepeat=0 --norandommap --lat_percentiles=1 --output-format=json --output="$f" > /dev/null 2>"$f.err"
  rc=$?
  emit fio "$1" "$2" "$3-qd$4" "$(basename "$f")" $rc
}

# Warm-up, the same for both targets and not measured: the serving process of ours is JavaScript,
# compiled as its paths get hot, which under TCG takes seconds (without it, round 1 of the 4k QD1
# runs was half of round 2). What the rounds measure is the steady state.
for t in "${TARGETS[@]}"; do
  fio --name=warm --filename="${DEV[$t]}" --direct=1 --ioengine=libaio --rw=randrw --bs=4k --iodepth=4 \
    --runtime=$WARMUP_SECS --time_based --randrepeat=0 --norandommap > /dev/null 2>&1 || true
done
emit meta warmup_secs "$WARMUP_SECS"

for r in $(seq 1 "$ROUNDS"); do
  P=/tmp/pattern-$r.bin
  head -c $((SEQ_MB << 20)) /dev/urandom > "$P"
  for t in "${TARGETS[@]}"; do seq_write $t $r "$P"; done
  for t in "${TARGETS[@]}"; do seq_read $t $r; done
  for w in "randread 1" "randread 32" "randwrite 1" "randwrite 32"; do
    for t in "${TARGETS[@]}"; do run_fio $t $r $w; done
  done
  rm -f "$P"
done
emit meta bench_done_uptime "$(cut -d' ' -f1 /proc/uptime)"

# orderly stop of ours (removes its export and backstore); the rest goes with the VM
[ -n "$OURPID" ] && { kill -TERM $OURPID 2>/dev/null; wait $OURPID 2>/dev/null || true; }
dmesg | grep -iE 'tcmu|target_core|abort|timeout' | tail -10
grep -iE 'err|warn|fail' /tmp/tcmu-log/* 2>/dev/null | tail -10
exit 0
