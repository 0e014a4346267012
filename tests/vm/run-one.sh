#!/bin/sh
# Boots the machines of one VM test and waits for their verdicts; run.sh starts it inside a
# network namespace of its own (unshare -n).
#
#   run-one.sh TEST RUNS_DIR IMAGE_DIR TIMEOUT
#
# The test's header names its machines, the first of which drives the test:
#   # vmtest-machines: ROLE:IP [ROLE:IP...]
# Each machine boots with vmtest.test=TEST vmtest.role=ROLE vmtest.name=ROLE vmtest.ip=IP and
# vmtest.hosts=ROLE:IP,... (every machine of the test), all on one Ethernet segment (qemu's
# socket multicast on this namespace's loopback). Writes RUNS_DIR/TEST-ROLE.log
# (each serial console), then RUNS_DIR/TEST.seconds and, last, RUNS_DIR/TEST.rc ("ROLE:RC" per
# machine, RC as scripts/vm-run.sh returns it).
set -u

t=$1
runs=$2
image=$3
limit=$4
here=$(cd "$(dirname "$0")" && pwd)
vm_run=$(cd "$here/../.." && pwd)/scripts/vm-run.sh
# Once the driving machine has its verdict, the others get this long to report theirs.
grace=20

ip link set lo up
started=$(date +%s.%N)
hosts=$(sed -n 's/^# vmtest-machines: //p' "$here/test_$t.sh")
# One segment for the test's machines: multicast on this namespace's loopback, which needs
# the flag and a route there, nothing else being in the namespace.
ip link set lo multicast on
ip route add 239.0.0.0/8 dev lo
netdev=socket,mcast=239.255.7.1:5555,localaddr=127.0.0.1
list=$(echo "$hosts" | tr ' ' ',')

k=0
pids=""
for host in $hosts; do
	role=${host%%:*}
	ip=${host#*:}
	k=$((k + 1))
	(
		rc=0
		"$vm_run" -i "$image" -l "$runs/$t-$role.log" -t "$limit" -n "$netdev" \
			-a "$(printf "52:54:00:00:00:%02x" "$k")" -p "$runs/$t-$role.pid" -- \
			"vmtest.test=$t" "vmtest.role=$role" "vmtest.name=$role" "vmtest.ip=$ip" \
			"vmtest.hosts=$list" || rc=$?
		echo "$role:$rc" >"$runs/$t-$role.rc"
	) &
	pids="$pids $!"
	[ "$k" -gt 1 ] || driver=$role
done

# The driving machine first; then the others, killed (by qemu's pid) after the grace period.
while [ ! -f "$runs/$t-$driver.rc" ]; do
	sleep 0.5
done
deadline=$(($(date +%s) + grace))
for host in $hosts; do
	role=${host%%:*}
	while [ ! -f "$runs/$t-$role.rc" ] && [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.5
	done
	if [ ! -f "$runs/$t-$role.rc" ] && [ -s "$runs/$t-$role.pid" ]; then
		kill "$(cat "$runs/$t-$role.pid")" 2>/dev/null
	fi
done
# shellcheck disable=SC2086 # the pids are meant to split into words
wait $pids

awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$runs/$t.seconds"
for host in $hosts; do
	cat "$runs/$t-${host%%:*}.rc"
done >"$runs/$t.rc.tmp"
mv "$runs/$t.rc.tmp" "$runs/$t.rc"
