#!/bin/bash
# Sourced by the guest scripts that check removable media through the kernel's sr and st drivers
# (test/vm/guest-cdrom.sh, guest-tape.sh, guest-scst-media.sh), after guest-lib.sh:
#   source "$REPO/kernel/vm/guest-media-lib.sh"

# sums_ok DIR SUMS: every file listed in SUMS (sha256sum format, paths ./...) has its sha256 in
# DIR, and DIR holds no other file
sums_ok() {
  (cd "$1" && sha256sum -c --quiet "$2") && [ "$(find "$1" -type f | wc -l)" = "$(wc -l < "$2")" ]
}

# mt_ready DEV: mt status until the drive reports ONLINE (6 s at most: the unit attentions after
# a load or a restart come first)
mt_ready() {
  local _
  for _ in $(seq 1 20); do
    mt -f "$1" status 2>&1 | grep -q ONLINE && return 0
    sleep 0.3
  done
  return 1
}

# tar_sources DIR SUMS: three folders a, b, c in DIR for three tar archives (source files of this
# repository and 3 MiB of random data), their sha256 in SUMS
tar_sources() {
  rm -rf "$1"; mkdir -p "$1/a" "$1/b" "$1/c"
  cp -r "$REPO/src/media" "$1/a/"; cp -r "$REPO/src/handlers/tape" "$1/b/"
  head -c $((3 << 20)) /dev/urandom > "$1/c/random.bin"
  (cd "$1" && find . -type f | sort | xargs sha256sum) > "$2"
}

# tar_read_back DEV DIR SUMS: extracts the archives at files 0, 1, 2 of the tape in DEV (rewind,
# fsf N, tar -x) into DIR and checks them against SUMS
tar_read_back() {
  local k rc=0
  rm -rf "$2"; mkdir -p "$2"
  for k in 0 1 2; do
    mt -f "$1" rewind && { [ $k = 0 ] || mt -f "$1" fsf $k; } || rc=1
    (cd "$2" && tar -xf "$1" -b 64) || rc=1
  done
  (cd "$2" && sha256sum -c --quiet "$3") || rc=1
  return $rc
}
