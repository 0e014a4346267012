#!/usr/bin/env bash
# The API server of build/ckube on this machine (run by bench/run.sh): prints each figure beside
# its target. Every figure is the median of several runs, because the machines this runs
# on are shared and noisy. Each group of figures gets a fresh server so that one measurement's
# leftovers (30,000 pods from the create runs, say) do not skew the next. Everything lives in
# one temporary directory that is removed at the end, also on failure or Ctrl-C, and every
# server started here is stopped. bench/README.md says what each figure means.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ckube=${CKUBE_BIN:-$here/../build/ckube}
runs=${BENCH_RUNS:-5}              # runs of each measurement; the table shows their median
seconds=${BENCH_SECONDS:-3}        # length of one wrk run
# wrk shares the machine with the server; on two CPUs a second wrk thread takes more from the
# server than it adds.
threads=${BENCH_THREADS:-$(($(nproc) > 2 ? 2 : 1))}
connections=${BENCH_CONNECTIONS:-8}
watchers=${BENCH_WATCHERS:-100}
watch_creates=${BENCH_WATCH_CREATES:-300}
list_repeats=${BENCH_LIST_REPEATS:-9} # timed lists per store size
idle_seconds=${BENCH_IDLE_SECONDS:-12}
pods_path=/api/v1/namespaces/default/pods

for tool in wrk curl gcc awk; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is missing; run scripts/deps.sh (as root) first" >&2
		exit 1
	fi
done
if [ ! -x "$ckube" ]; then
	echo "bench: $ckube is not built; run make first" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ckube-bench.XXXXXX")
server_pid=""
server_dir=""

stop_server() {
	[ -n "$server_pid" ] || return 0
	local pid=$server_pid
	server_pid=""
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$?
	stop_server
	if [ "$status" -eq 130 ] || [ "$status" -eq 143 ]; then
		echo "bench: interrupted" >&2
	elif [ "$status" -ne 0 ] && [ -n "$server_dir" ] && [ -s "$server_dir/server.log" ]; then
		echo "bench: failed; the last server log lines:" >&2
		tail -n 20 "$server_dir/server.log" >&2
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

gcc -O2 -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-o "$work/ckbench" "$here/ckbench.c"
ckbench=$work/ckbench

# start_server NAME: a fresh `ckube server` with its own directories under $work/NAME, on a
# free loopback port, without the node agent; returns once /readyz answers.
start_server() {
	server_dir=$work/$1
	mkdir -p "$server_dir"
	port=$("$ckbench" port)
	base=http://127.0.0.1:$port
	"$ckube" server --listen "127.0.0.1:$port" --data-dir "$server_dir/data" \
		--run-dir "$server_dir/run" --log-dir "$server_dir/logs" \
		--config-dir "$server_dir/config" --no-agent >"$server_dir/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 300); do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			echo "bench: ckube server exited during start-up" >&2
			exit 1
		fi
		if curl -sf -o /dev/null "$base/readyz"; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench: ckube server was not ready after 15 s" >&2
	exit 1
}

median() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# field NAME LINE: the value of NAME=value in a key=value line.
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# CPU seconds the server has used so far (user + system).
server_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$server_pid/stat"
}

rss_mib() {
	awk -v key="$1:" '$1 == key {printf "%.1f", $2 / 1024}' "/proc/$server_pid/status"
}

# Server CPU microseconds per request between two server_cpu readings.
per_request() {
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.0f", (b - a) * 1e6 / n}'
}

# run_wrk MODE URL SECONDS: one wrk run; prints the WRK line from api.lua, fails on failed
# requests.
run_wrk() {
	local out line
	out=$(wrk -t"$threads" -c"$connections" -d"${3}s" -s "$here/api.lua" "$2" -- "$1")
	line=$(printf '%s\n' "$out" | grep '^WRK ')
	if [ "$(field failed "$line")" != 0 ]; then
		echo "bench: wrk $1: failed requests:" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
	printf '%s\n' "$line"
}

# list_times N: N timed lists of the default namespace over one keep-alive connection, in ms.
list_times() {
	local urls=()
	for _ in $(seq "$1"); do
		# curl's -o applies to one URL only, so each URL gets its own.
		urls+=(-o /dev/null "$base$pods_path")
	done
	curl -s -H 'Accept: application/json' -w '%{http_code} %{time_total}\n' "${urls[@]}" | awk '$1 != 200 {bad = 1} {printf "%.1f\n", $2 * 1000}
		END {exit bad}'
}

list_count() {
	curl -s -H 'Accept: application/json' "$base$pods_path" | grep -o '"uid":"' | wc -l
}

echo "ckube API server benchmark: $("$ckube" version 2>/dev/null | head -n 1)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
	head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "runs: $runs per figure; wrk: $threads thread(s), $connections connections, ${seconds} s a run"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
echo

# --- creates and gets -------------------------------------------------------------------------
# Every create run gets a fresh, empty server: the scheduler retries each unschedulable pod
# every 10 s, so pods left by one run would load the next (the idle figure below shows that
# cost). A run is a second of warm-up and then the timed run, both shorter than that retry.
echo "creates and gets ..."
create_rates=() create_p99=() create_cpu=()
for run in $(seq "$runs"); do
	start_server "create-$run"
	run_wrk create "$base$pods_path" 1 >/dev/null
	cpu_before=$(server_cpu)
	line=$(run_wrk create "$base$pods_path" "$seconds")
	cpu_after=$(server_cpu)
	create_rates+=("$(field rate "$line")")
	create_p99+=("$(field lat_p99_us "$line")")
	create_cpu+=("$(per_request "$cpu_before" "$cpu_after" "$(field ok "$line")")")
	echo "  create run $run: $line"
	stop_server
done
start_server get
curl -sf -o /dev/null -H 'Content-Type: application/json' -X POST "$base$pods_path" \
	-d '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bench-get"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
run_wrk get "$base$pods_path/bench-get" 1 >/dev/null
get_rates=() get_p99=() get_cpu=()
for run in $(seq "$runs"); do
	cpu_before=$(server_cpu)
	line=$(run_wrk get "$base$pods_path/bench-get" "$seconds")
	cpu_after=$(server_cpu)
	get_rates+=("$(field rate "$line")")
	get_p99+=("$(field lat_p99_us "$line")")
	get_cpu+=("$(per_request "$cpu_before" "$cpu_after" "$(field ok "$line")")")
	echo "  get run $run: $line"
done
stop_server

# --- watch latency ----------------------------------------------------------------------------
echo "watch latency ..."
start_server watch
watch_p50=() watch_p99=() watch_send_p99=() watch_early=() watch_samples=0
for run in $(seq "$runs"); do
	line=$("$ckbench" watch "$port" "$watchers" "$watch_creates" "$run")
	watch_p50+=("$(field p50_us "$line")")
	watch_p99+=("$(field p99_us "$line")")
	watch_send_p99+=("$(field send_p99_us "$line")")
	watch_early+=("$(field early "$line")")
	watch_samples=$((watch_samples + $(field samples "$line")))
	echo "  watch run $run: $line"
done
stop_server

# --- lists and memory -------------------------------------------------------------------------
echo "lists and memory ..."
start_server store
echo "  fill to 1000: $("$ckbench" fill "$port" 1000 8 fill-)"
count_1k=$(list_count)
list_1k=$(list_times "$list_repeats" | median)
echo "  fill to 10000: $("$ckbench" fill "$port" 9000 8 fill-)"
count_10k=$(list_count)
rss_filled=$(rss_mib VmRSS)
list_10k_all=$(list_times "$list_repeats")
list_10k=$(printf '%s\n' "$list_10k_all" | median)
rss_listed=$(rss_mib VmRSS)
rss_peak=$(rss_mib VmHWM)
echo "  list of 10000 (ms): $(printf '%s\n' "$list_10k_all" | tr '\n' ' ')"
# The scheduler's periodic retry of every unschedulable pod runs every 10 s; 12 s of quiet
# take in at least one.
cpu_before=$(server_cpu)
sleep "$idle_seconds"
cpu_after=$(server_cpu)
idle_cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v s="$idle_seconds" \
	'BEGIN {printf "%.0f", (b - a) * 100 / s}')
list_bytes=$(curl -s -o /dev/null -w '%{size_download}' -H 'Accept: application/json' \
	"$base$pods_path")
stop_server

# --- the table --------------------------------------------------------------------------------
met=0 total=0
# row LABEL VALUE UNIT TARGET_OP TARGET DETAIL: one line of the table; TARGET_OP is ge or lt.
row() {
	local verdict=""
	if [ -n "$4" ]; then
		total=$((total + 1))
		if awk -v v="$2" -v t="$5" -v op="$4" \
			'BEGIN {exit !((op == "ge" && v >= t) || (op == "lt" && v < t))}'; then
			verdict=yes
			met=$((met + 1))
		else
			verdict=NO
		fi
	fi
	local target=""
	[ -n "$4" ] && target="$([ "$4" = ge ] && echo '>=' || echo '<') $5 $3"
	printf '%-34s %12s %-5s %-14s %-4s %s\n' "$1" "$2" "$3" "$target" "$verdict" "$6"
}
med() { printf '%s\n' "$@" | median; }
us_to_ms() { awk -v v="$1" 'BEGIN {printf "%.2f", v / 1000}'; }

echo
printf '%-34s %12s %-5s %-14s %-4s %s\n' figure median unit target met "details (median; all runs)"
row "pod creates per second" "$(med "${create_rates[@]}" | awk '{printf "%.0f", $1}')" /s \
	ge 5000 "runs: ${create_rates[*]}; p99 $(med "${create_p99[@]}") us; server CPU $(med "${create_cpu[@]}") us/create"
row "pod gets per second" "$(med "${get_rates[@]}" | awk '{printf "%.0f", $1}')" /s \
	ge 20000 "runs: ${get_rates[*]}; p99 $(med "${get_p99[@]}") us; server CPU $(med "${get_cpu[@]}") us/get"
row "list 1,000 pods" "$list_1k" ms "" "" "$count_1k items, median of $list_repeats"
row "list 10,000 pods" "$list_10k" ms lt 150 "$count_10k items, $((list_bytes / 1024)) KiB, median of $list_repeats"
early_share=$(printf '%s\n' "${watch_early[@]}" |
	awk -v n="$watch_samples" '{e += $1} END {printf "%.0f", n ? e * 100 / n : 0}')
row "watch latency p50 ($watchers watchers)" "$(us_to_ms "$(med "${watch_p50[@]}")")" ms "" "" \
	"runs (us): ${watch_p50[*]}; ${early_share}% of events came before the create's answer"
row "watch latency p99 ($watchers watchers)" "$(us_to_ms "$(med "${watch_p99[@]}")")" ms lt 5 \
	"runs (us): ${watch_p99[*]}; counted from the request sent: $(us_to_ms "$(med "${watch_send_p99[@]}")") ms"
# The target holds only if both readings are under it: a server that has answered a few lists
# is the normal case.
rss_max=$(printf '%s\n' "$rss_filled" "$rss_listed" | sort -g | tail -n 1)
row "server RSS with 10,000 pods" "$rss_max" MiB lt 64 \
	"after the creates $rss_filled MiB, after $list_repeats lists $rss_listed MiB, peak (VmHWM) $rss_peak MiB"
row "server CPU, idle, 10,000 pods" "$idle_cpu" % "" "" "of one CPU over ${idle_seconds} s with no requests"
echo
echo "targets met: $met of $total (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
