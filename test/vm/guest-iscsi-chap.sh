#!/bin/bash
# Runs inside the test VM (kernel/vm): the embedded iSCSI target behind CHAP and an ACL, driven
# by the Linux kernel initiator (open-iscsi + iscsi_tcp): one-way and mutual CHAP with SHA-256
# and MD5 (node.session.auth.chap_algs), a wrong secret and a wrong target secret refused, an
# initiator name outside the ACL refused. Prints "STEP <name> <ok|fail> <seconds> <detail>"
# lines for test/vm/iscsi-chap.test.ts.
set -u
REPO=${REPO:-$(pwd)}
source "$REPO/kernel/vm/guest-lib.sh"

ip link set lo up 2>/dev/null || true
modprobe iscsi_tcp && modprobe sd_mod || { step modules fail "modprobe failed"; exit 1; }
step modules ok "$(uname -r)"

IMG=$RESULTS/chap.img
rm -f "$IMG"; truncate -s 16M "$IMG"
IQN=iqn.2026-12.org.fileio-tgt.test:chap
ME=iqn.2026-11.org.fileio-tgt.test:vm
P=127.0.0.1:3262
mkdir -p /run/lock/iscsi /var/lib/iscsi /etc/iscsi
echo "InitiatorName=$ME" > /etc/iscsi/initiatorname.iscsi
cat > /tmp/chap.json <<JSON
{ "portal": "$P",
  "devices": [ { "name": "chapdisk", "file": "$IMG" } ],
  "targets": [ { "iqn": "$IQN",
    "chap": { "user": "vmuser", "secret": "vm-chap-secret-01", "mutual": { "user": "vmtarget", "secret": "vm-target-secret-02" } },
    "acls": [ { "initiator": "$ME", "luns": [ { "lun": 0, "device": "chapdisk" } ] } ] } ] }
JSON

if ! start_target /tmp/t.out --config /tmp/chap.json; then
  step target fail "did not start"; cat /tmp/t.out.err; exit 1
fi
step target ok ""
setsid iscsid -f > /tmp/iscsid.log 2>&1 &
for _ in $(seq 1 50); do iscsiadm -m session > /dev/null 2>&1; [ $? -ne 4 ] && break; sleep 0.1; done

out=$(timeout 60 iscsiadm -m discovery -t sendtargets -p $P 2>&1); echo "$out"
echo "$out" | grep -qx "$P,1 $IQN" && step discovery ok "" || step discovery fail "$out"

set_node() { timeout 30 iscsiadm -m node -T $IQN -p $P -o update -n "$1" -v "$2" > /dev/null; }
disk_up() { # the LU appears as a block device
  for _ in $(seq 1 100); do
    for b in /sys/block/sd*; do
      [ "$(cat $b/device/model 2>/dev/null | tr -d ' ')" = chapdisk ] && [ -b /dev/${b##*/} ] && return 0
    done
    sleep 0.1
  done
  return 1
}
# login NAME ALG USER SECRET [TARGET_USER TARGET_SECRET] EXPECT(ok|refused) LOGPATTERN
login() {
  local name=$1 alg=$2 user=$3 secret=$4 tuser=$5 tsecret=$6 expect=$7 pattern=$8
  set_node node.session.auth.authmethod CHAP
  set_node node.session.auth.chap_algs "$alg"
  set_node node.session.auth.username "$user"
  set_node node.session.auth.password "$secret"
  set_node node.session.auth.username_in "$tuser"
  set_node node.session.auth.password_in "$tsecret"
  local before; before=$(wc -l < /tmp/t.out.err)
  if timeout 60 iscsiadm -m node -T $IQN -p $P --login > /tmp/login.out 2>&1; then
    if [ "$expect" = ok ] && disk_up && tail -n +$((before + 1)) /tmp/t.out.err | grep -q -- "$pattern"; then
      step "$name" ok "$(tail -n +$((before + 1)) /tmp/t.out.err | grep -o 'auth CHAP[^)]*)' | head -1)"
    else
      step "$name" fail "expected $expect; logged in; $(tail -n +$((before + 1)) /tmp/t.out.err | tail -3)"
    fi
    timeout 60 iscsiadm -m node -T $IQN -p $P --logout > /dev/null 2>&1
  else
    if [ "$expect" = refused ] && { [ -z "$pattern" ] || tail -n +$((before + 1)) /tmp/t.out.err | grep -q -- "$pattern"; }; then
      step "$name" ok "$(tail -1 /tmp/login.out)"
    else
      step "$name" fail "expected $expect; $(cat /tmp/login.out | tail -2); $(tail -n +$((before + 1)) /tmp/t.out.err | tail -3)"
    fi
  fi
}

for ALG in SHA256 MD5; do
  NAME=$([ $ALG = SHA256 ] && echo SHA-256 || echo MD5)
  login chap-$ALG-oneway $ALG vmuser vm-chap-secret-01 "" "" ok "auth CHAP ($NAME)"
  login chap-$ALG-mutual $ALG vmuser vm-chap-secret-01 vmtarget vm-target-secret-02 ok "auth CHAP ($NAME, mutual)"
  login chap-$ALG-wrong-secret $ALG vmuser vm-chap-secret-XX "" "" refused "0x0201"
  # the initiator checks the target's answer itself: a wrong target secret makes it give up
  login chap-$ALG-wrong-target-secret $ALG vmuser vm-chap-secret-01 vmtarget vm-target-secret-XX refused ""
  sleep 3 # the wrong secret above counts toward the slow-down of this initiator name
done
login chap-no-chap SHA256 "" "" "" "" refused "0x0201"
set_node node.session.auth.authmethod None
timeout 60 iscsiadm -m node -T $IQN -p $P --login > /tmp/login.out 2>&1 && step chap-none-refused fail "logged in without CHAP" || step chap-none-refused ok ""

# another initiator name: not in the ACL
sleep 3
echo "InitiatorName=iqn.2026-11.org.fileio-tgt.test:intruder" > /etc/iscsi/initiatorname.iscsi
iscsiadm -k 0 > /dev/null 2>&1; sleep 0.5
setsid iscsid -f > /tmp/iscsid2.log 2>&1 &
for _ in $(seq 1 50); do iscsiadm -m session > /dev/null 2>&1; [ $? -ne 4 ] && break; sleep 0.1; done
out=$(timeout 60 iscsiadm -m discovery -t sendtargets -p $P 2>&1); echo "$out"
echo "$out" | grep -q "$IQN" && step intruder-discovery fail "$out" || step intruder-discovery ok ""
before=$(wc -l < /tmp/t.out.err)
timeout 30 iscsiadm -m node -o new -T $IQN -p $P > /dev/null 2>&1
set_node node.session.auth.authmethod CHAP; set_node node.session.auth.username vmuser; set_node node.session.auth.password vm-chap-secret-01
if timeout 60 iscsiadm -m node -T $IQN -p $P --login > /tmp/login.out 2>&1; then
  step intruder-refused fail "logged in"
else
  tail -n +$((before + 1)) /tmp/t.out.err | grep -q "0x0202" && step intruder-refused ok "" || step intruder-refused fail "$(tail -3 /tmp/t.out.err)"
fi
iscsiadm -k 0 > /dev/null 2>&1 || true
grep -c 'vm-chap-secret\|vm-target-secret' /tmp/t.out /tmp/t.out.err | grep -v ':0$' && step no-secret-logged fail "" || step no-secret-logged ok ""
kill -TERM $PID; wait $PID
cat /tmp/t.out.err | tail -40

# ---- LIO's iSCSI target (--link tcmu --export iscsi): the same config shape as node ACLs --------
modprobe target_core_user && mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
LIQN=iqn.2026-12.org.fileio-tgt.test:lio
LP=127.0.0.1:3263
A=iqn.2026-11.org.fileio-tgt.test:lio-a
B=iqn.2026-11.org.fileio-tgt.test:lio-b
M=iqn.2026-11.org.fileio-tgt.test:lio-m
LIMG=$RESULTS/lio.img; LRO=$RESULTS/lio-ro.img
rm -f "$LIMG" "$LRO"; truncate -s 8M "$LIMG"; truncate -s 8M "$LRO"
cat > /tmp/lio.json <<JSON
{ "portal": "$LP",
  "devices": [ { "name": "liodisk", "file": "$LIMG" }, { "name": "lioro", "file": "$LRO" } ],
  "targets": [ { "iqn": "$LIQN", "luns": [ { "lun": 0, "device": "liodisk" }, { "lun": 1, "device": "lioro" } ],
    "chap": { "user": "liouser", "secret": "lio-chap-secret-1" },
    "acls": [ { "initiator": "$A" },
              { "initiator": "$B", "luns": [ { "lun": 0, "device": "lioro", "readOnly": true } ] },
              { "initiator": "$M", "chap": { "user": "liomutual", "secret": "lio-mutual-secret-3", "mutual": { "user": "liotarget", "secret": "lio-target-secret-4" } } } ] } ] }
JSON
TPG=/sys/kernel/config/target/iscsi/$LIQN/tpgt_1
if SERVING_COUNT=2 start_target /tmp/lio.out --link tcmu --export iscsi --config /tmp/lio.json; then
  inq() { timeout 30 iscsi-inq -i "$1" "iscsi://$2$LP/$LIQN/0" > /tmp/inq.out 2>&1; }
  gen=$(cat $TPG/attrib/generate_node_acls); auth=$(cat $TPG/attrib/authentication)
  [ "$gen" = 0 ] && [ "$auth" = 1 ] && [ -d "$TPG/acls/$A" ] && [ "$(cat $TPG/acls/$B/lun_0/write_protect)" = 1 ] \
    && step lio-configfs ok "" || step lio-configfs fail "generate_node_acls=$gen authentication=$auth $(ls $TPG/acls 2>&1)"
  inq $A liouser%lio-chap-secret-1@ && step lio-acl-login ok "" || step lio-acl-login fail "$(cat /tmp/inq.out)"
  inq $A liouser%lio-chap-secret-X@ && step lio-wrong-secret fail "logged in" || step lio-wrong-secret ok ""
  inq $A "" && step lio-no-chap fail "logged in" || step lio-no-chap ok ""
  inq iqn.2026-11.org.fileio-tgt.test:lio-c liouser%lio-chap-secret-1@ && step lio-other-initiator fail "logged in" || step lio-other-initiator ok ""
  # mutual CHAP through LIO: the ACL entry's own credentials, the target proving itself to libiscsi
  LIBISCSI_CHAP_TARGET_USERNAME=liotarget LIBISCSI_CHAP_TARGET_PASSWORD=lio-target-secret-4 inq $M liomutual%lio-mutual-secret-3@ \
    && step lio-mutual ok "" || step lio-mutual fail "$(cat /tmp/inq.out)"
  LIBISCSI_CHAP_TARGET_USERNAME=liotarget LIBISCSI_CHAP_TARGET_PASSWORD=lio-target-secret-X inq $M liomutual%lio-mutual-secret-3@ \
    && step lio-wrong-target-secret fail "logged in" || step lio-wrong-target-secret ok ""
  out=$(timeout 30 iscsi-ls -s -i $B "iscsi://liouser%lio-chap-secret-1@$LP" 2>&1); echo "$out"
  [ "$(echo "$out" | grep -c '^Lun:')" = 1 ] && step lio-own-luns ok "" || step lio-own-luns fail "$out"
  kill -TERM $PID; wait $PID; rc=$?
  [ $rc = 0 ] && [ ! -e /sys/kernel/config/target/iscsi/$LIQN ] && step lio-teardown ok "" || step lio-teardown fail "rc=$rc $(ls /sys/kernel/config/target/iscsi 2>&1)"
  cat /tmp/lio.out.err | tail -20
else
  step lio-configfs fail "did not start: $(tail -3 /tmp/lio.out.err)"
fi
step done ok ""
