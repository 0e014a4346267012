#!/bin/sh
# Runs the VM tests: builds the image (scripts/vm-image.sh, cached), boots each test's machines
# with scripts/vm-run.sh and prints each test's verdict, then "N passed, N failed".
#
#   tests/vm/run.sh [TEST...]      TEST: a name (oom) of tests/vm/test_NAME.sh; default all
#
# Environment:
#   CKUBE_BIN        the ckube to test (default build/ckube)
#   CKUBE_VM_DIR     the image and the logs (default vm/ beside CKUBE_BIN)
#   CKUBE_VM_SLOTS   how many VMs may run at once (default: the number of CPUs plus one; the
#                    multi-VM tests' machines wait on each other much of the time)
#   CKUBE_VM_TIMEOUT seconds a machine may take from boot to verdict (default 240)
#   CKUBE_VM_KVM=1   KVM instead of TCG where /dev/kvm works (see scripts/vm-run.sh)
#   CKUBE_VM_KEEP=1  keep the serial logs of passed tests too
# The serial logs of failed tests (TEST-ROLE.log, one per machine, and TEST.out, what qemu said)
# are kept in CKUBE_VM_DIR/logs/, emptied at each run.
# Needs root: the image build stages file owners, and each test's machines share a network
# namespace of their own (unshare -n), so their segment never touches this machine's network.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CKUBE_BIN=${CKUBE_BIN:-$root/build/ckube}
export CKUBE_BIN
vm_dir=${CKUBE_VM_DIR:-$(dirname "$CKUBE_BIN")/vm}
slots=${CKUBE_VM_SLOTS:-$(($(nproc) + 1))}
timeout=${CKUBE_VM_TIMEOUT:-240}

die() {
	echo "vm-test: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (scripts/deps.sh)"
command -v unshare >/dev/null || die "unshare is missing"

# machines TEST: the number of machines the test's header names.
machines() {
	sed -n 's/^# vmtest-machines: //p' "$here/test_$1.sh" | wc -w
}

tests="$*"
if [ -z "$tests" ]; then
	for f in "$here"/test_*.sh; do
		name=${f##*/test_}
		tests="$tests ${name%.sh}"
	done
fi
for t in $tests; do
	[ -f "$here/test_$t.sh" ] || die "no test $t ($here/test_$t.sh)"
	[ "$(machines "$t")" -gt 0 ] || die "test_$t.sh names no machine (# vmtest-machines: ROLE:IP ...)"
done

now() {
	date +%s.%N
}
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

started=$(now)
"$root/scripts/vm-image.sh" "$vm_dir"
echo "vm-test: image ready in $(since "$started") s"

runs=$vm_dir/logs
rm -rf "$runs"
mkdir -p "$runs"
trap 'exit 1' INT TERM HUP

# The tests with the most machines start first: they take longest.
order=$(for t in $tests; do echo "$(machines "$t") $t"; done | sort -rn -k1,1 | cut -d ' ' -f 2)
running=""
busy=0
passed=0
failed=0
run_started=$(now)

# finish TEST: prints the verdict of a test whose machines have all stopped (its variables
# start with _: the callers loop over t and r).
finish() {
	_t=$1
	_rcs=$(cat "$runs/$_t.rc")
	_seconds=$(cat "$runs/$_t.seconds" 2>/dev/null || echo "?")
	rm -f "$runs/$_t.rc" "$runs/$_t.seconds" "$runs/$_t"-*.rc "$runs/$_t"-*.pid
	if [ -n "$_rcs" ] && ! echo "$_rcs" | grep -qv ':0$'; then
		echo "PASS $_t ($_seconds s)"
		passed=$((passed + 1))
		[ "${CKUBE_VM_KEEP:-0}" = 1 ] || rm -f "$runs/$_t.out" "$runs/$_t"-*.log
	else
		failed=$((failed + 1))
		_why=""
		for _entry in $_rcs; do
			_role=${_entry%%:*}
			_rc=${_entry#*:}
			if [ "$_role" = harness ]; then
				_why="$_why run-one.sh ended $_rc without verdicts ($runs/$_t.out);"
				continue
			fi
			case $_rc in
			0) ;;
			124) _why="$_why $_role: no verdict within $timeout s;" ;;
			125) _why="$_why $_role: stopped without a verdict (a panic, or stopped once the driving machine had ended);" ;;
			*) _why="$_why $_role: rc=$_rc;" ;;
			esac
		done
		echo "FAIL $_t ($_seconds s):$_why serial logs in $runs/$_t-*.log"
		for _log in "$runs/$_t"-*.log; do
			[ -f "$_log" ] || continue
			grep -h '^FAIL' "$_log" | sed "s|^|  ${_log##*/}: |" || true
		done
	fi
}

for t in $order; do
	need=$(machines "$t")
	# Wait for room; a test bigger than every slot still runs, alone.
	while [ "$busy" -gt 0 ] && [ $((busy + need)) -gt "$slots" ]; do
		sleep 0.5
		still=""
		for r in $running; do
			if [ -f "$runs/$r.rc" ]; then
				finish "$r"
				busy=$((busy - $(machines "$r")))
			else
				still="$still $r"
			fi
		done
		running=$still
	done
	# The machines of one test share a network namespace of their own (only lo in it).
	(
		unshare --net -- sh "$here/run-one.sh" "$t" "$runs" "$vm_dir" "$timeout" \
			>"$runs/$t.out" 2>&1
		rc=$?
		[ -f "$runs/$t.rc" ] || echo "harness:$rc" >"$runs/$t.rc"
	) &
	running="$running $t"
	busy=$((busy + need))
done
for r in $running; do
	while [ ! -f "$runs/$r.rc" ]; do
		sleep 0.5
	done
	finish "$r"
done
wait

echo "vm-test: machines ran $(since "$run_started") s, $(since "$started") s in all"
echo "vm-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
