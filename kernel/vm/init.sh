#!/bin/sh
# /init of the test VM's initramfs (busybox-static). Mounts the host root read-only over 9p
# with a tmpfs overlay on top, the writable share at its host path, runs vm.script chrooted
# and reports its exit status through QEMU's isa-debug-exit port (value rc+1).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /mods/*; do insmod "$m" || echo "init: insmod $m failed"; done

KVER= MODDIR= SCRIPT= SHARE= CWD=/ ENVS=
for x in $(cat /proc/cmdline); do
  case "$x" in
    vm.kver=*) KVER=${x#vm.kver=} ;;
    vm.moddir=*) MODDIR=${x#vm.moddir=} ;;
    vm.script=*) SCRIPT=${x#vm.script=} ;;
    vm.share=*) SHARE=${x#vm.share=} ;;
    vm.cwd=*) CWD=${x#vm.cwd=} ;;
    vm.env.*=*) ENVS="$ENVS ${x#vm.env.}" ;;
  esac
done

report() {
  v=$(( $1 + 1 )); [ $v -gt 127 ] && v=127  # qemu exit status is (v<<1)|1, 8 bits
  sync
  printf "$(printf '\\%03o' $v)" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  echo "init: could not exit through isa-debug-exit"; poweroff -f
}

mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower || report 120
mount -t tmpfs -o mode=755 tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || report 121
# modules: for the kernel's request_module (runs /sbin/modprobe in this root) and in the new root
mkdir -p /lib/modules/$KVER /newroot/lib/modules/$KVER
mount --bind /lower$MODDIR /lib/modules/$KVER
mount --bind /lower$MODDIR /newroot/lib/modules/$KVER
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
ln -sf /proc/self/fd /newroot/dev/fd
mount -t configfs configfs /newroot/sys/kernel/config 2>/dev/null
# /tmp stays the overlay of the host's /tmp (writes land in the tmpfs upper layer): the repository
# under test may itself live in /tmp (CI clones anywhere), and the guest must see it.
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot$SHARE
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /newroot$SHARE || report 122
echo "init: up $(cut -d' ' -f1 /proc/uptime)s"
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb $ENVS \
  /bin/sh -c "cd $CWD && exec /bin/bash $SCRIPT" </dev/null >/dev/console 2>&1
rc=$?
echo "init: script exited $rc at $(cut -d' ' -f1 /proc/uptime)s"
report $rc
