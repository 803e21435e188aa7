#!/bin/bash
# Runs inside the test VM (kernel/vm), started by bench/scst.ts: the same fio workloads against two
# SCST user-space disk handlers on one stock SCST core, interleaved A B A B:
#   ours = fileio_tgt --link scst_user (this repository, Node)
#   c    = SCST's own C fileio_tgt (usr/fileio), default options (parse std, mem_reuse all, 7 threads)
# Both register through /dev/scst_user, each is LUN 0 of its own scst_local target (one session =
# one SCSI host), so each is a /dev/sdX of its own; both images are the same size, every page allocated, on
# the guest's tmpfs. The C handler's VPD B0h (common.c, exec_inquiry) says OPTIMAL TRANSFER LENGTH =
# 512 KiB / block size and that is not an option of it, so ours is given the same through its
# config file (optimalTransferBytes): sd (sd_revalidate_disk) makes the optimal transfer length
# max_sectors_kb, so a different value would split 1 MiB I/O into a different number of SCSI
# commands per handler.
# Lines go to $RESULTS/bench.tsv:
#   meta  KEY VALUE
#   fio   TARGET ROUND WORKLOAD JSONFILE RC SAMPLEFILE
#   check NAME ok|fail DETAIL
#   error TARGET MESSAGE
# and each SAMPLEFILE has "EPOCH_SECONDS HANDLER_TICKS VCPU_IDLE_TICKS" every half second of its run.
set -u
REPO=${REPO:-$(pwd)}
RESULTS=${RESULTS:?RESULTS must name the writable share}
SCST_DIR=${SCST_DIR:?SCST_DIR must name the cached SCST build (kernel/vm/scst.mjs)}
ROUNDS=${ROUNDS:-2}
SECS=${SECS:-5}
RAMP=${RAMP:-1}
WARMUP_SECS=${WARMUP_SECS:-15}
SIZE_MB=${SIZE_MB:-256}
VERIFY_MB=${VERIFY_MB:-32}
ONLY=${ONLY:-}   # ours | c: one handler only (debugging)
OUT=$RESULTS/bench.tsv
: > "$OUT"
ST=/sys/kernel/scst_tgt
emit() { local IFS=$'\t'; echo "$*" >> "$OUT"; echo "BENCH $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# One sample line "EPOCH_SECONDS HANDLER_TICKS VCPU_IDLE_TICKS": the handler's utime + stime
# from /proc/PID/stat, which sums the whole thread group at once (do_task_stat ->
# thread_group_cputime_adjusted, scaled to the scheduler's sum_exec_runtime, so it is exact up
# to the tick unit; summing each thread's schedstat in a loop is not atomic and a preempted
# sampler over-counts), and the vCPU's idle + iowait ticks (/proc/stat "cpu" line). Bash
# builtins only: sampling forks nothing.
sample() { # PID
  local st f c u n y i w _
  read -r st < "/proc/$1/stat" || st=
  read -ra f <<< "${st##*) }"   # f[0] is field 3 (state): utime and stime are fields 14 and 15
  read -r c u n y i w _ < /proc/stat
  echo "$EPOCHREALTIME $(( ${f[11]:-0} + ${f[12]:-0} )) $((i + w))"
}

emit meta script_start_uptime "$(uptime_s)"
emit meta kernel "$(uname -r)"
emit meta guest_cpus "$(nproc)"
emit meta clk_tck "$(getconf CLK_TCK)"

# ---- the stock SCST: its modules' own dependencies first (insmod does not resolve them)
for m in scst scst_user scst_local; do
  for d in $(modinfo -F depends "$SCST_DIR/$m.ko" 2>/dev/null | tr ',' ' '); do
    case $d in scst|scst_user) ;; *) modprobe "$d" ;; esac
  done
done
modprobe sd_mod
insmod "$SCST_DIR/scst.ko" && insmod "$SCST_DIR/scst_user.ko" && insmod "$SCST_DIR/scst_local.ko" add_default_tgt=0 ||
  { emit error all "insmod of the SCST modules failed"; dmesg | tail -20; exit 1; }
# scst_pr_init_dev: REGISTER_DEVICE fails ENOENT when the PR directory (made by SCST's make install) is missing
mkdir -p /var/lib/scst/pr
emit meta scst_version "$(cat $ST/version 2>/dev/null | head -1)"

# the block device of LUN 0 behind a scst_local session, once sd has attached it
dev_of_session() { # TGT SESS
  local host b
  for _ in $(seq 1 150); do
    host=$(cat "$ST/targets/scst_local/$1/sessions/$2/host_no" 2>/dev/null)
    if [ -n "$host" ]; then
      b=$(ls /sys/class/scsi_host/host$host/device/target$host:0:0/$host:0:0:0/block 2>/dev/null | head -1)
      [ -n "$b" ] && [ -b "/dev/$b" ] && { echo "/dev/$b"; return 0; }
    fi
    sleep 0.1
  done
  return 1
}
# add DEVICE as LUN 0 of a new scst_local target with one session; prints the /dev/sdX
export_local() { # DEVICE
  echo "add_target tgt_$1 session_name=sess_$1" > $ST/targets/scst_local/mgmt || return 1
  echo "add $1 0" > $ST/targets/scst_local/tgt_$1/luns/mgmt || return 1
  dev_of_session "tgt_$1" "sess_$1"
}
# every page of the image allocated in tmpfs (shmem_fallocate), so neither handler reads holes;
# dd of zeros is the fallback and costs a minute per image under TCG
fill_image() { rm -f "$1"; fallocate -l "${SIZE_MB}M" "$1" 2>/dev/null || dd if=/dev/zero of="$1" bs=1M count="$SIZE_MB" status=none; }

OURDEV= CDEV= OURPID= CPID=
# ---- B: SCST's C fileio_tgt
if [ "$ONLY" != ours ]; then
  fill_image /tmp/c.img
  setsid "$SCST_DIR/fileio_tgt" cfio /tmp/c.img > /tmp/c.out 2>&1 &
  CPID=$!
  for _ in $(seq 1 200); do [ -d $ST/devices/cfio ] && break; kill -0 $CPID 2>/dev/null || break; sleep 0.1; done
  if [ -d $ST/devices/cfio ]; then
    CDEV=$(export_local cfio) || { emit error c "no /dev/sdX for the C fileio_tgt LUN"; CDEV=; }
  else
    emit error c "the C fileio_tgt did not register"; cat /tmp/c.out; dmesg | tail -10
  fi
  emit meta c_dev "${CDEV:--}"
fi

# ---- A: ours
if [ "$ONLY" != c ]; then
  fill_image /tmp/ours.img
  OPT_BYTES=$((512 << 10))
  printf '{"devices":[{"name":"ours","file":"/tmp/ours.img","options":{"optimalTransferBytes":%d}}]}\n' $OPT_BYTES > /tmp/ours.json
  setsid node --enable-source-maps "$REPO/bin/fileio_tgt.js" --json --link scst_user --config /tmp/ours.json > /tmp/ours.out 2> /tmp/ours.err &
  OURPID=$!
  for _ in $(seq 1 600); do
    grep -q '"event":"serving"' /tmp/ours.out && break
    kill -0 $OURPID 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '"event":"serving"' /tmp/ours.out && [ -d $ST/devices/ours ]; then
    OURDEV=$(export_local ours) || { emit error ours "no /dev/sdX for our LUN"; OURDEV=; }
  else
    emit error ours "fileio_tgt --link scst_user did not serve"; cat /tmp/ours.out /tmp/ours.err; dmesg | tail -10
  fi
  emit meta ours_dev "${OURDEV:--}"
fi

declare -A DEV=([ours]=$OURDEV [c]=$CDEV)
declare -A PID=([ours]=$OURPID [c]=$CPID)
declare -A IMG=([ours]=/tmp/ours.img [c]=/tmp/c.img)
TARGETS=()
[ -n "$OURDEV" ] && TARGETS+=(ours)
[ -n "$CDEV" ] && TARGETS+=(c)
[ ${#TARGETS[@]} -gt 0 ] || { emit error all "no handler came up"; exit 1; }

# what each LUN advertises (VPD B0h, SBC-4 6.6.4) and what sd made of it. scst_local's host
# template has cmd_per_lun 3, and scst_local_slave_configure only logs the depth it computes on
# kernels >= 3.19 (it applies it for older ones only), so the sd device keeps 3, which would cap
# every "QD32" run at 3 commands in flight: both get 64 (scst_local_change_queue_depth).
for t in "${TARGETS[@]}"; do
  d=${DEV[$t]} q=/sys/block/$(basename "${DEV[$t]}")
  echo 64 > $q/device/queue_depth 2>/dev/null || emit error "$t" "cannot set queue_depth 64 on $d"
  bl=$(sg_vpd -p bl "$d" 2>&1)
  emit meta "${t}_opt_xfer" "$(echo "$bl" | grep -i 'optimal transfer length:' | head -1 | sed 's/.*: *//')"
  emit meta "${t}_max_xfer" "$(echo "$bl" | grep -i 'maximum transfer length:' | head -1 | sed 's/.*: *//')"
  emit meta "${t}_queue" "max_sectors_kb=$(cat $q/queue/max_sectors_kb) optimal_io_size=$(cat $q/queue/optimal_io_size) queue_depth=$(cat $q/device/queue_depth) nr_requests=$(cat $q/queue/nr_requests)"
  emit meta "${t}_inquiry" "$(sg_inq "$d" 2>/dev/null | grep -E 'Vendor|Product' | sed 's/ *identification: */=/' | tr -s ' \n' ' ')"
done
emit meta setup_done_uptime "$(uptime_s)"

run_fio() { # TARGET ROUND RW BS QD NAME
  local t=$1 f=$RESULTS/fio-$1-$2-$6.json c=$RESULTS/cpu-$1-$2-$6.txt rc sp
  # handler CPU and vCPU idle sampled through the run; bench/scst.ts keeps the samples inside
  # fio's measured window (its end timestamp minus job_runtime: no ramp, no start-up)
  ( for _ in $(seq 1 $(( (SECS + RAMP + 120) * 2 ))); do
      sample "${PID[$t]}"; sleep 0.5
    done ) > "$c" &
  sp=$!
  fio --name=bench --filename="${DEV[$t]}" --direct=1 --ioengine=libaio --rw=$3 --bs=$4 --iodepth=$5 \
    --runtime=$SECS --ramp_time=$RAMP --time_based --randrepeat=0 --norandommap --lat_percentiles=1 \
    --output-format=json --output="$f" > /dev/null 2> "$f.err"
  rc=$?
  kill $sp 2>/dev/null; wait $sp 2>/dev/null
  emit fio "$t" "$2" "$6" "$(basename "$f")" $rc "$(basename "$c")"
}

# Warm-up, the same for both and not measured: our handler is JavaScript, compiled as its paths
# get hot (seconds under TCG), and both SGV caches (sgv_pool_alloc) fill with 4 KiB and large
# buffers. The rounds measure the steady state.
for t in "${TARGETS[@]}"; do
  fio --name=warm --filename="${DEV[$t]}" --direct=1 --ioengine=libaio --rw=randrw --bs=4k --iodepth=8 \
    --runtime=$WARMUP_SECS --time_based --randrepeat=0 --norandommap > /dev/null 2>&1 || true
  fio --name=warm --filename="${DEV[$t]}" --direct=1 --ioengine=libaio --rw=rw --bs=1M --iodepth=8 \
    --runtime=$(( (WARMUP_SECS + 2) / 3 )) --time_based > /dev/null 2>&1 || true
done
emit meta warmup_secs "$WARMUP_SECS"

WORKLOADS=("randread 4k 1 randread-qd1" "randread 4k 32 randread-qd32" "randwrite 4k 1 randwrite-qd1"
  "randwrite 4k 32 randwrite-qd32" "read 1M 8 seqread-1m" "write 1M 8 seqwrite-1m")
for r in $(seq 1 "$ROUNDS"); do
  for w in "${WORKLOADS[@]}"; do
    # shellcheck disable=SC2086
    for t in "${TARGETS[@]}"; do run_fio $t $r $w; done
  done
done
emit meta bench_done_uptime "$(uptime_s)"

# Not timed: fresh random data written through each LUN with O_DIRECT reads back the same through
# the LUN and is in the image file (a fast handler that returns wrong data must not look like a win)
P=/tmp/pattern.bin
head -c $((VERIFY_MB << 20)) /dev/urandom > $P
for t in "${TARGETS[@]}"; do
  det=
  dd if=$P of="${DEV[$t]}" bs=1M oflag=direct conv=fsync status=none || det="dd write rc=$?"
  dd if="${DEV[$t]}" bs=1M count=$VERIFY_MB iflag=direct status=none | cmp -s - $P || det="$det LUN read-back differs"
  cmp -s -n $((VERIFY_MB << 20)) "${IMG[$t]}" $P || det="$det image file differs"
  if [ -z "$det" ]; then emit check "verify_$t" ok "${VERIFY_MB} MiB"; else emit check "verify_$t" fail "$det"; fi
done

# Stop both the ordinary way (SIGTERM; the fd's release unregisters the device and deletes its
# LUN, scst_user's dev_user_release), then look for kernel trouble over the whole run.
for t in "${TARGETS[@]}"; do kill -TERM "${PID[$t]}" 2>/dev/null; done
for t in "${TARGETS[@]}"; do
  for _ in $(seq 1 100); do kill -0 "${PID[$t]}" 2>/dev/null || break; sleep 0.1; done
  kill -0 "${PID[$t]}" 2>/dev/null && { emit check "stop_$t" fail "still running 10 s after SIGTERM"; kill -KILL "${PID[$t]}"; } || emit check "stop_$t" ok -
done
sleep 1
BAD=$(dmesg | grep -E 'BUG|Oops|WARNING|Call Trace|general protection|blocked for more than|stack-protector' | head -20)
if [ -z "$BAD" ]; then emit check dmesg ok "no BUG/Oops/WARNING/Call Trace"; else emit check dmesg fail "$(echo "$BAD" | head -3 | tr '\t\n' '  ')"; echo "$BAD"; fi
dmesg | grep -iE 'scst|user' | grep -viE 'scst_user.*registered' | tail -15
[ -s /tmp/ours.err ] && { echo "--- ours stderr"; tail -5 /tmp/ours.err; }
exit 0
