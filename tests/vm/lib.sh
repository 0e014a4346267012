# Helpers for the guest side of the VM tests (tests/vm/test_*.sh source this file). POSIX sh
# over busybox; everything a test prints goes to the serial console, which the host keeps when
# the test fails. Variables of the helpers start with _ so that they never change a test's.

CKUBE_LOG=/var/log/ckube.log
KUBECONFIG=/etc/ckube/admin.kubeconfig
export KUBECONFIG
# The port on which the machine that drives a multi-VM test tells the others it is done.
DONE_PORT=9999

say() {
	echo "vm[$VM_NAME] $(uptime_s) $*"
}

uptime_s() {
	cut -d ' ' -f 1 /proc/uptime
}

# elapsed SINCE: seconds (with hundredths) since the uptime SINCE.
elapsed() {
	awk -v since="$1" '{ printf "%.2f", $1 - since }' /proc/uptime
}

# fail MESSAGE: the test's verdict; the node's state and the agent's log go to the console.
fail() {
	echo "FAIL: $*"
	diagnostics
	exit 1
}

diagnostics() {
	echo "--- diagnostics of $VM_NAME"
	if [ -f "$KUBECONFIG" ]; then
		kubectl get nodes -o wide 2>&1
		kubectl get pods -A -o wide 2>&1
		kubectl get pods -A -o yaml 2>&1 | sed -n '/^  status:/,/^- /p'
		kubectl get events -A 2>&1 | tail -n 30
	fi
	if [ -f "$CKUBE_LOG" ]; then
		echo "--- last lines of $CKUBE_LOG"
		tail -n 60 "$CKUBE_LOG"
	fi
	echo "--- end of diagnostics"
}

kubectl() {
	ckube kubectl "$@"
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every half second until it succeeds; the
# test fails when SECONDS have passed.
wait_until() {
	_limit=$1
	_what=$2
	shift 2
	_deadline=$(awk -v l="$_limit" '{ printf "%d", $1 + l }' /proc/uptime)
	until "$@" >/dev/null 2>&1; do
		if [ "$(cut -d . -f 1 /proc/uptime)" -ge "$_deadline" ]; then
			fail "$_what: not within $_limit s"
		fi
		sleep 0.5
	done
}

# The test images (NAME:vm) into this node's image store, as an operator without a registry
# would bring them.
import_images() {
	ckube image import /images/test-images.tar >/tmp/import.log 2>&1 ||
		{ cat /tmp/import.log; fail "ckube image import"; }
}

node_ready() {
	kubectl get node "$1" 2>/dev/null | awk -v n="$1" '$1 == n && $2 == "Ready" { ok = 1 } END { exit !ok }'
}

# start_server [ARGS...]: `ckube server` with this machine's agent (node VM_NAME at VM_IP),
# then waits for the node to be Ready.
start_server() {
	ckube server --node-name "$VM_NAME" --node-ip "$VM_IP" "$@" >"$CKUBE_LOG" 2>&1 &
	wait_until 60 "admin kubeconfig" test -s "$KUBECONFIG"
	wait_until 90 "node $VM_NAME Ready" node_ready "$VM_NAME"
	say "node $VM_NAME Ready"
}

# pod_yaml NAME: the pod as YAML (one field a line).
pod_yaml() {
	kubectl get pod "$1" -o yaml
}

# yaml_field KEY < YAML: the values of every `KEY:` field (also as a list item), one a line,
# unquoted.
yaml_field() {
	sed -n "s/^ *\(- \)\{0,1\}$1: \"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\2/p"
}

# pod_phase NAME: status.phase of the pod.
pod_phase() {
	pod_yaml "$1" | yaml_field phase | tail -n 1
}

pod_is() {
	[ "$(pod_phase "$1")" = "$2" ]
}

# pod_ip NAME: status.podIP.
pod_ip() {
	pod_yaml "$1" | yaml_field podIP | head -n 1
}

# pod_cgroup NAME CONTAINER: the container's cgroup directory on this node.
pod_cgroup() {
	_uid=$(pod_yaml "$1" | yaml_field uid | head -n 1)
	_dir=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "pod$_uid" | head -n 1)
	[ -n "$_dir" ] && [ -d "$_dir/$2" ] && echo "$_dir/$2"
}

# cgroup_value FILE KEY: the value of KEY in a flat-keyed cgroup file (cpu.stat, memory.events).
cgroup_value() {
	awk -v k="$2" '$1 == k { print $2 }' "$1"
}

# host_ip ROLE: the address of the test's machine ROLE (from vmtest.hosts).
host_ip() {
	echo "$VM_HOSTS" | tr ',' '\n' | sed -n "s/^$1://p"
}

# The join material of a server (token and CA), served to agents on this port.
JOIN_PORT=7000

# serve_join: serves the server's token and CA (a tar) to every agent that asks, as an
# operator would copy them over.
serve_join() {
	tar -C / -cf /tmp/join.tar var/lib/ckube/token var/lib/ckube/tls/ca.crt ||
		fail "no token or CA to serve"
	(while :; do nc -l -p "$JOIN_PORT" </tmp/join.tar >/dev/null 2>&1 || sleep 0.2; done) &
}

fetch_join() {
	rm -rf /tmp/join
	mkdir -p /tmp/join
	nc -w 5 "$1" "$JOIN_PORT" </dev/null >/tmp/join.tar 2>/dev/null &&
		tar -C /tmp/join -xf /tmp/join.tar && [ -s /tmp/join/var/lib/ckube/token ] &&
		[ -s /tmp/join/var/lib/ckube/tls/ca.crt ]
}

# start_agent SERVER_IP: `ckube agent` joined to the API server there, with its token and CA;
# its pid in AGENT_PID.
start_agent() {
	wait_until 120 "the join token and CA from $1" fetch_join "$1"
	ckube agent --server "https://$1:6443" --token-file /tmp/join/var/lib/ckube/token \
		--ca-file /tmp/join/var/lib/ckube/tls/ca.crt --node-name "$VM_NAME" \
		--node-ip "$VM_IP" >"$CKUBE_LOG" 2>&1 &
	AGENT_PID=$!
	say "agent started"
}

# agent_alive: fails the test when the agent has exited.
agent_alive() {
	kill -0 "$AGENT_PID" 2>/dev/null || fail "ckube agent exited"
}

# signal_done IP [WORDS]: tells the machine at IP that this test is over, with WORDS for it
# to check (see wait_done).
signal_done() {
	_ip=$1
	shift
	echo "done $*" | nc -w 5 "$_ip" "$DONE_PORT" >/dev/null 2>&1 || true
}

# wait_done SECONDS: holds this machine's part up until the driving machine says it is over;
# what it said after "done" is then in DONE_WORDS.
wait_done() {
	timeout "$1" nc -l -p "$DONE_PORT" </dev/null >/tmp/done 2>/dev/null || true
	grep -q '^done' /tmp/done || fail "the driving machine did not finish within $1 s"
	# shellcheck disable=SC2034 # for the test that sources this file
	DONE_WORDS=$(sed -n 's/^done *//p' /tmp/done | head -n 1)
}
