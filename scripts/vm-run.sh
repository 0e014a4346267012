#!/bin/sh
# Boots one test VM of the image scripts/vm-image.sh built and waits for its verdict.
#
#   scripts/vm-run.sh [options] [--] [vmtest.KEY=VALUE ...]
#     -i DIR      the image (vmlinux, initrd), default build/vm beside this script
#     -l FILE     the serial console's log (default: standard output)
#     -t SECONDS  the time limit (default 180): then the VM is killed and counts as failed
#     -m MiB      memory (default 1024)
#     -n NETDEV   the NIC's backend, as qemu's -netdev takes it without id (for example
#                 socket,mcast=239.1.2.3:5555,localaddr=127.0.0.1); default: a NIC on a hub
#                 of its own (an eth0 that reaches nothing)
#     -a MAC      the NIC's MAC address (default 52:54:00:12:34:56; unique per VM on a segment)
#     -p FILE     where qemu writes its pid (to stop the VM early: kill that pid)
# The arguments are appended to the kernel command line (tests/vm/init reads vmtest.*).
#
# Exit status: the guest's own (the rc of its `VMTEST-RESULT ... rc=N` line), 124 when the time
# limit passed, 125 when the machine stopped without a verdict (a panic: panic=-1 reboots and
# -no-reboot ends qemu). TCG always, unless CKUBE_VM_KVM=1 and /dev/kvm can be opened: on this
# kind of machine /dev/kvm is a nested hypervisor that cannot run Debian's kernel.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
image=$(dirname "$here")/build/vm
log=""
limit=180
memory=1024
netdev="hubport,hubid=0"
mac=52:54:00:12:34:56
pidfile=""

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while getopts i:l:t:m:n:a:p:h opt; do
	case $opt in
	i) image=$OPTARG ;;
	l) log=$OPTARG ;;
	t) limit=$OPTARG ;;
	m) memory=$OPTARG ;;
	n) netdev=$OPTARG ;;
	a) mac=$OPTARG ;;
	p) pidfile=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" != -- ] || shift

for f in vmlinux initrd; do
	[ -f "$image/$f" ] || {
		echo "vm-run: $image/$f is missing (scripts/vm-image.sh builds it)" >&2
		exit 2
	}
done

accel=tcg
cpu=max
if [ "${CKUBE_VM_KVM:-0}" = 1 ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	accel=kvm
	cpu=host
fi

append="console=ttyS0 panic=-1 loglevel=4 $*"
# The qemu options that are there only sometimes.
set --
[ -z "$pidfile" ] || set -- "$@" -pidfile "$pidfile"
serial=stdio
if [ -n "$log" ]; then
	: >"$log"
	serial="file:$log"
fi

# -nodefaults: no VGA, no default NIC, no option ROM to load; the NIC's ROM is off as well.
status=0
timeout -k 5 "$limit" qemu-system-x86_64 -accel "$accel" -M pc -cpu "$cpu" -smp 1 \
	-m "$memory" -nodefaults -no-user-config -display none -no-reboot \
	-serial "$serial" -monitor none "$@" \
	-netdev "$netdev,id=net0" -device "virtio-net-pci,netdev=net0,mac=$mac,romfile=" \
	-kernel "$image/vmlinux" -initrd "$image/initrd" -append "$append" </dev/null || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
	exit 124
fi
[ -n "$log" ] || exit "$status"
verdict=$(sed -n 's/^VMTEST-RESULT .* rc=\([0-9]*\).*/\1/p' "$log" | tail -n 1)
[ -n "$verdict" ] || exit 125
exit "$verdict"
