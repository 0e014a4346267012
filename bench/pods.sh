#!/usr/bin/env bash
# The node agent of build/ckube on this machine (run by bench/run.sh): how fast pods start,
# counted from the create request to the pod's Ready condition as a watch shows it, for one pod
# at a time, with three volumes (hostPath, emptyDir, configMap) against none, and for 100
# pods created at once (image present), and what the agent costs in
# memory and CPU while 100 pods run and nothing happens for a minute.
#
# Two nodes, one after the other, each with its own directories under one temporary directory
# and its own cgroup root:
#   A. `ckube server` with its agent, as a single-node cluster runs: the latencies, and the
#      RSS and CPU of that one process (API server and agent together: an upper bound).
#   B. `ckube server --no-agent` and `ckube agent` beside it, as a worker runs: 100 pods at
#      once again, and the RSS and CPU of the agent process alone.
# Everything runs inside a network namespace the script makes (the agent builds its pod network
# there). Images come from Debian's docker-registry on that namespace's 127.0.0.1
# (scripts/registry.sh), filled with the busybox test image. Everything started here is stopped at the end, also on failure or
# Ctrl-C: the pods' processes are killed through cgroup.kill, their cgroups removed, mounts under
# the temporary directory lazily unmounted. bench/README.md says what each figure means.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ckube=${CKUBE_BIN:-$repo/build/ckube}
python=/usr/bin/python3 # Debian's, as scripts/deps.sh installs it; the client needs only its stdlib
runs=${BENCH_POD_RUNS:-100}             # one-pod starts (create, Ready, delete, gone)
volume_runs=${BENCH_VOLUME_RUNS:-50}    # pairs: a pod without volumes, then one with three
bursts=${BENCH_POD_BURSTS:-3}           # rounds of BENCH_POD_BURST pods at once on node A
burst=${BENCH_POD_BURST:-100}           # pods created at once
connections=${BENCH_POD_CONNECTIONS:-8} # keep-alive connections the burst's creates share
quiet=${BENCH_QUIET_SECONDS:-60}        # the quiet window with the burst's pods running
# After the last pod turned Ready the agent still writes its last status patches and events;
# the quiet window starts this much later.
settle=5

for tool in curl jq awk skopeo; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is missing; run scripts/deps.sh (as root) first" >&2
		exit 1
	fi
done
if [ ! -x "$python" ]; then
	echo "bench: $python is missing; run scripts/deps.sh (as root) first" >&2
	exit 1
fi
if [ ! -x "$ckube" ]; then
	echo "bench: $ckube is not built; run make first" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench: the node agent needs root" >&2
	exit 1
fi
# The agent builds its pod network (a bridge, routes, an nftables table) in the network
# namespace it runs in: never the machine's own. So the whole benchmark, with its registry and
# its clients, runs again inside a network namespace of its own, removed when it ends.
if [ -z "${CKUBE_BENCH_NETNS:-}" ]; then
	netns=ckube-bench-pods-$$
	ip netns add "$netns"
	trap 'ip netns del "$netns" 2>/dev/null || true' EXIT
	trap 'exit 130' INT TERM
	ip -n "$netns" link set lo up
	status=0
	CKUBE_BENCH_NETNS=$netns nsenter --net="/run/netns/$netns" -- "$0" "$@" || status=$?
	exit "$status"
fi
cgroup_mount=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
if [ -z "$cgroup_mount" ]; then
	echo "bench: no cgroup2 mount on this machine" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ckube-bench-pods.XXXXXX")
chmod 755 "$work"
tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
registry_dir=$work/registry
# pids of what this script started, stopped in reverse order by cleanup
started=()
# cgroup roots the nodes of this run use (names under $cgroup_mount)
cgroup_roots=()
last_log=""

# stop_pid PID: SIGTERM, 10 s of grace, then SIGKILL; sets stopped_status to its exit status.
# (Not in a subshell: only this shell can wait for its children.)
stopped_status=0
stop_pid() {
	local pid=$1
	stopped_status=0
	kill -TERM "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null || stopped_status=$?
		return 0
	}
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie (exited, not yet waited for) counts as stopped
		[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || stopped_status=$?
}

# forget_pid PID: PID is stopped; cleanup need not stop it again.
forget_pid() {
	local keep=() pid
	for pid in "${started[@]}"; do
		[ "$pid" = "$1" ] || keep+=("$pid")
	done
	started=("${keep[@]+"${keep[@]}"}")
}

# clean_node ROOT: kills what is left in the cgroup ROOT (containers outlive their agent by
# design) and removes its cgroups.
clean_node() {
	local top=$cgroup_mount/$1
	[ -d "$top" ] || return 0
	echo 1 >"$top/cgroup.kill" 2>/dev/null || true
	for _ in $(seq 50); do
		[ -z "$(find "$top" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
		sleep 0.1
	done
	find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

cleanup() {
	local status=$? i mount
	trap - EXIT INT TERM
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		stop_pid "${started[i]}"
	done
	for root in "${cgroup_roots[@]+"${cgroup_roots[@]}"}"; do
		clean_node "$root"
	done
	# Pinned namespaces, overlays and the like under the temporary directory, deepest first.
	awk -v w="$work" 'index($5, w "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
	[ -d "$registry_dir" ] && "$repo/scripts/registry.sh" stop "$registry_dir" >/dev/null 2>&1
	if [ "$status" -eq 130 ] || [ "$status" -eq 143 ]; then
		echo "bench: interrupted" >&2
	elif [ "$status" -ne 0 ] && [ -n "$last_log" ] && [ -s "$last_log" ]; then
		echo "bench: failed; the last lines of $(basename "$last_log"):" >&2
		tail -n 20 "$last_log" >&2
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	"$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# field NAME LINE: the value of NAME=value in a key=value line.
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

median() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
med() { printf '%s\n' "$@" | median | awk '{printf "%.1f", $1}'; }

cpu_seconds() { # PID: user + system time so far
	awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}
mem_mib() { # PID KEY: VmRSS, VmHWM, RssAnon or RssFile in MiB
	awk -v key="$2:" '$1 == key {printf "%.1f", $2 / 1024}' "/proc/$1/status"
}

# node_args DIR ROOT NAME PORT: the directory and node flags of a node under DIR.
node_args() {
	echo --data-dir "$1/data" --run-dir "$1/run" --log-dir "$1/logs" --config-dir "$1/config" \
		--node-name "$3" --node-ip 127.0.0.1 --node-port "$4" --cgroup-root "$2"
}

write_registries() { # CONFIG_DIR: docker.io (plain `image: busybox`) from the local registry
	mkdir -p "$1"
	printf 'mirrors:\n  docker.io:\n    endpoint: ["http://%s"]\n  "%s":\n    endpoint: ["http://%s"]\n' \
		"$address" "$address" "$address" >"$1/registries.yaml"
}

# wait_ready PID URL: until the server answers /readyz and has written its kubeconfig.
wait_ready() {
	for _ in $(seq 300); do
		if ! kill -0 "$1" 2>/dev/null; then
			echo "bench: ckube server exited during start-up" >&2
			exit 1
		fi
		curl -sf -o /dev/null "$2/readyz" && return 0
		sleep 0.05
	done
	echo "bench: ckube server was not ready after 15 s" >&2
	exit 1
}

# wait_node PID URL NAME: until the Node NAME is Ready (its agent, PID, registered it).
wait_node() {
	for _ in $(seq 300); do
		if ! kill -0 "$1" 2>/dev/null; then
			echo "bench: the node agent exited during start-up" >&2
			exit 1
		fi
		if curl -sf "$2/api/v1/nodes/$3" |
			jq -e '.status.conditions[]? | select(.type == "Ready" and .status == "True")' \
				>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench: node $3 was not Ready after 15 s" >&2
	exit 1
}

podlat() { # ROOT ARGS...: the client, waiting for pods to leave the node with cgroup ROOT
	local root=$1
	shift
	"$python" "$here/pod_latency.py" --node-cgroup "$cgroup_mount/$root" "$@"
}

running_pods() { # ROOT: pod cgroups with processes in them
	local n=0 dir
	while read -r dir; do
		[ -n "$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && n=$((n + 1))
	done < <(find "$cgroup_mount/$1" -mindepth 1 -type d -name 'pod*' 2>/dev/null)
	echo "$n"
}

# quiet_window PID...: sleeps $quiet seconds; then for each PID sets quiet_PID to "CPU RSS HWM
# ANON FILE PSS": CPU as a share of one CPU over the window, in %; RSS the higher of the readings
# at both ends; then the peak (VmHWM), the anonymous and the file-backed parts of RSS and the
# proportional set size (file pages shared with other processes counted in part), all at the end,
# in MiB. Runs in this shell, and sleeps in the background behind `wait`, so that Ctrl-C or
# SIGTERM reaches the cleanup at once.
quiet_window() {
	local before=() rss0=() pid i=0 sleeper
	for pid in "$@"; do
		before+=("$(cpu_seconds "$pid")")
		rss0+=("$(mem_mib "$pid" VmRSS)")
	done
	sleep "$quiet" &
	sleeper=$!
	started+=("$sleeper")
	wait "$sleeper"
	forget_pid "$sleeper"
	for pid in "$@"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "bench: process $pid ended during the quiet window" >&2
			exit 1
		fi
		printf -v "quiet_$pid" '%s' "$(awk -v a="${before[i]}" -v b="$(cpu_seconds "$pid")" \
			-v s="$quiet" -v r0="${rss0[i]}" -v r1="$(mem_mib "$pid" VmRSS)" \
			-v h="$(mem_mib "$pid" VmHWM)" -v an="$(mem_mib "$pid" RssAnon)" \
			-v fi="$(mem_mib "$pid" RssFile)" \
			-v pss="$(awk '$1 == "Pss:" {printf "%.1f", $2 / 1024}' "/proc/$pid/smaps_rollup")" \
			'BEGIN {printf "%.2f %.1f %.1f %s %s %s", (b - a) * 100 / s, (r1 > r0 ? r1 : r0), h, an, fi, pss}')"
		i=$((i + 1))
	done
}

echo "ckube pod start benchmark: $("$ckube" version 2>/dev/null | head -n 1)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
	head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "runs: $runs one-pod starts; $volume_runs pairs with and without volumes; $bursts rounds of $burst pods at once over $connections connections; quiet window ${quiet} s"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
echo

# --- the image -----------------------------------------------------------------------------------
echo "registry with the busybox image ..."
IMAGES=busybox "$repo/scripts/test-images.sh" "$work/images" >/dev/null
address=$("$repo/scripts/registry.sh" start "$registry_dir")
"$repo/scripts/registry.sh" push "$work/images" "$address" busybox >/dev/null
image=busybox # through the docker.io mirror, as users write it

# --- node A: ckube server with its agent -----------------------------------------------------------
echo "node A: ckube server with its agent ..."
a_dir=$work/a
a_root=ckube-bench-$tag-a
a_node=ckube-bench-$tag-a
cgroup_roots+=("$a_root")
write_registries "$a_dir/config"
a_port=$(free_port)
a_url=http://127.0.0.1:$a_port
last_log=$a_dir/server.log
# shellcheck disable=SC2046 # node_args prints words
"$ckube" server --listen "127.0.0.1:$a_port" $(node_args "$a_dir" "$a_root" "$a_node" "$(free_port)") \
	>"$a_dir/server.log" 2>&1 &
a_pid=$!
started+=("$a_pid")
wait_ready "$a_pid" "$a_url"
wait_node "$a_pid" "$a_url" "$a_node"
# The first pod pulls the image; the rest find it present.
podlat "$a_root" single "$a_port" 3 "$image" >/dev/null

echo "  one pod at a time ($runs runs) ..."
single=$(podlat "$a_root" single "$a_port" "$runs" "$image")
single_line=$(printf '%s\n' "$single" | grep '^samples=')
echo "  $single_line"

echo "  with and without volumes, in turn ($volume_runs runs each) ..."
volumes_line=$(podlat "$a_root" volumes "$a_port" "$volume_runs" "$image" "$work/host-path")
echo "  $volumes_line"

burst_p50=() burst_p99=() burst_all=() burst_sched=() burst_creates=() burst_teardown=()
burst_first=() burst_per_pod=()
for round in $(seq "$bursts"); do
	echo "  $burst pods at once, round $round ..."
	line=$(podlat "$a_root" burst "$a_port" "$burst" "$image" "$connections" "bench-$round")
	echo "  $line"
	burst_p50+=("$(field p50_ms "$line")")
	burst_p99+=("$(field p99_ms "$line")")
	burst_all+=("$(field all_ready_ms "$line")")
	burst_sched+=("$(field scheduled_all_ms "$line")")
	burst_creates+=("$(field creates_ms "$line")")
	burst_first+=("$(field first_ready_ms "$line")")
	burst_per_pod+=("$(field per_pod_ms "$line")")
	if [ "$round" -lt "$bursts" ]; then
		line=$(podlat "$a_root" delete "$a_port")
		burst_teardown+=("$(field node_ms "$line")")
	fi
done
a_running=$(running_pods "$a_root")
sleep "$settle"
echo "  quiet window of ${quiet} s with $a_running pods running ..."
quiet_window "$a_pid"
q=quiet_$a_pid
read -r a_cpu a_rss a_hwm a_anon a_file a_pss <<<"${!q}"
a_threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$a_pid/status")
line=$(podlat "$a_root" delete "$a_port")
burst_teardown+=("$(field node_ms "$line")")
stop_pid "$a_pid"
forget_pid "$a_pid"
[ "$stopped_status" = 0 ] || echo "  note: ckube server (node A) exited with status $stopped_status"
clean_node "$a_root"

# --- node B: ckube agent beside ckube server --no-agent --------------------------------------------
echo "node B: ckube agent beside ckube server --no-agent ..."
b_dir=$work/b
b_root=ckube-bench-$tag-b
b_node=ckube-bench-$tag-b
cgroup_roots+=("$b_root")
mkdir -p "$b_dir/server"
b_port=$(free_port)
b_url=http://127.0.0.1:$b_port
last_log=$b_dir/server/server.log
"$ckube" server --listen "127.0.0.1:$b_port" --data-dir "$b_dir/server/data" \
	--run-dir "$b_dir/server/run" --log-dir "$b_dir/server/logs" \
	--config-dir "$b_dir/server/config" --no-agent >"$b_dir/server/server.log" 2>&1 &
b_server_pid=$!
started+=("$b_server_pid")
wait_ready "$b_server_pid" "$b_url"
write_registries "$b_dir/agent/config"
last_log=$b_dir/agent/agent.log
# shellcheck disable=SC2046 # node_args prints words
"$ckube" agent --server "$b_url" --token-file "$b_dir/server/data/token" \
	$(node_args "$b_dir/agent" "$b_root" "$b_node" "$(free_port)") >"$b_dir/agent/agent.log" 2>&1 &
b_agent_pid=$!
started+=("$b_agent_pid")
wait_node "$b_agent_pid" "$b_url" "$b_node"
podlat "$b_root" single "$b_port" 3 "$image" >/dev/null
b_anon0=$(mem_mib "$b_agent_pid" RssAnon)
echo "  $burst pods at once ..."
b_line=$(podlat "$b_root" burst "$b_port" "$burst" "$image" "$connections" bench-b)
echo "  $b_line"
b_running=$(running_pods "$b_root")
sleep "$settle"
echo "  quiet window of ${quiet} s with $b_running pods running ..."
quiet_window "$b_agent_pid" "$b_server_pid"
q=quiet_$b_agent_pid
read -r b_cpu b_rss b_hwm b_anon b_file b_pss <<<"${!q}"
q=quiet_$b_server_pid
read -r bs_cpu bs_rss bs_hwm _ _ _ <<<"${!q}"
b_threads=$(awk '$1 == "Threads:" {print $2}' "/proc/$b_agent_pid/status")
podlat "$b_root" delete "$b_port" >/dev/null
stop_pid "$b_agent_pid"
forget_pid "$b_agent_pid"
[ "$stopped_status" = 0 ] || echo "  note: ckube agent (node B) exited with status $stopped_status"
stop_pid "$b_server_pid"
forget_pid "$b_server_pid"
[ "$stopped_status" = 0 ] || echo "  note: ckube server (node B) exited with status $stopped_status"
clean_node "$b_root"
last_log=""

# --- the table -----------------------------------------------------------------------------------
met=0 total=0
# row LABEL VALUE UNIT TARGET_OP TARGET DETAIL: one line of the table; TARGET_OP is lt or empty.
row() {
	local verdict="" target=""
	if [ -n "$4" ]; then
		total=$((total + 1))
		if awk -v v="$2" -v t="$5" 'BEGIN {exit !(v < t)}'; then
			verdict=yes
			met=$((met + 1))
		else
			verdict=NO
		fi
		target="< $5 $3"
	fi
	printf '%-40s %9s %-4s %-12s %-4s %s\n' "$1" "$2" "$3" "$target" "$verdict" "$6"
}

echo
printf '%-40s %9s %-4s %-12s %-4s %s\n' figure value unit target met details
row "one pod: create to Ready, p50" "$(field p50_ms "$single_line")" ms lt 30 \
	"$(field samples "$single_line") starts; min $(field min_ms "$single_line") ms; scheduled (nodeName in the watch) p50 $(field scheduled_p50_ms "$single_line") ms"
row "one pod: create to Ready, p99" "$(field p99_ms "$single_line")" ms lt 100 \
	"max $(field max_ms "$single_line") ms; published peer: Kubernetes SLO p99 <= 5 s (not measured here)"
row "one pod with 3 volumes: added to Ready" "$(field added_p50_ms "$volumes_line")" ms lt 2 \
	"p50 of $(field samples "$volumes_line") pairs (hostPath + emptyDir + configMap vs none, started in turn): $(field volumes_p50_ms "$volumes_line") vs $(field plain_p50_ms "$volumes_line") ms; teardown $(field volumes_teardown_p50_ms "$volumes_line") vs $(field plain_teardown_p50_ms "$volumes_line") ms"
row "$burst pods at once: create to Ready, p50" "$(med "${burst_p50[@]}")" ms "" "" \
	"median of $bursts rounds: ${burst_p50[*]}"
row "$burst pods at once: create to Ready, p99" "$(med "${burst_p99[@]}")" ms "" "" \
	"rounds: ${burst_p99[*]}"
row "$burst pods at once: all Ready" "$(med "${burst_all[@]}")" ms lt 3000 \
	"first create to last Ready; rounds: ${burst_all[*]}; all created in $(med "${burst_creates[@]}") ms, all scheduled in $(med "${burst_sched[@]}") ms, first Ready at $(med "${burst_first[@]}") ms, then one every $(med "${burst_per_pod[@]}") ms"
row "  the same on node B (ckube agent alone)" "$(field all_ready_ms "$b_line")" ms "" "" \
	"p50 $(field p50_ms "$b_line") ms, p99 $(field p99_ms "$b_line") ms, one Ready every $(field per_pod_ms "$b_line") ms"
row "agent RSS, $b_running pods (ckube agent)" "$b_rss" MiB lt 16 \
	"anonymous $b_anon MiB ($(awk -v a="$b_anon0" -v b="$b_anon" -v n="$burst" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}') KiB more per pod than before the $burst), file-backed $b_file MiB (the binary and its shared libraries), PSS $b_pss MiB, peak $b_hwm MiB, $b_threads threads; published peer: kubelet e2e limit 300 MiB at 100 pods (not measured here)"
row "agent CPU, quiet ${quiet} s, $b_running pods" "$b_cpu" % lt 0.5 \
	"of one CPU, user+system of the ckube agent process"
row "  ckube server with its agent: RSS" "$a_rss" MiB "" "" \
	"node A, $a_running pods: one process with the API server in it, so an upper bound for the agent; anonymous $a_anon MiB, file-backed $a_file MiB, PSS $a_pss MiB, peak $a_hwm MiB, $a_threads threads"
row "  ckube server with its agent: CPU" "$a_cpu" % "" "" "node A, quiet ${quiet} s"
row "  API server alone for node B: RSS" "$bs_rss" MiB "" "" "ckube server --no-agent beside node B's agent; peak $bs_hwm MiB"
row "  API server alone for node B: CPU" "$bs_cpu" % "" "" "the same quiet ${quiet} s"
echo
echo "deleting $burst pods until the node held none of them: $(med "${burst_teardown[@]}") ms (node A, rounds: ${burst_teardown[*]});"
echo "one pod: $(field teardown_p50_ms "$single_line") ms (p50). Pods are busybox \`sh -c 'trap \"exit 0\" TERM; sleep 3600 & wait'\`."
echo "targets met: $met of $total (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
