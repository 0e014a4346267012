#!/usr/bin/env bash
# The Service proxy of build/ckube (`ckube proxy sync`: the code the agent runs on Services and
# Endpoints) against kube-proxy's nftables layout loaded with `nft -f`, side by side in one run,
# for 100, 1,000 and 10,000 ClusterIP Services with 3 endpoints each (services_gen.py writes both
# sides' input):
#   - full load from scratch: whole command (hyperfine), and ckube's own in-process time
#   - kernel memory the loaded rules hold: the kmem charge of a throw-away cgroup v1 memory
#     controller the loading process ran in
#   - one Service added, one endpoint changed, one Service deleted with N present: ckube's
#     in-process time of each watch event's commit (the agent's path) against `nft -f` of the
#     same change in kube-proxy's layout; and ckube's whole process for one more Service (the
#     restart path: sync of N+1 against a table of N)
#   - reconciling a table that is already right (the restart path again: nothing to send)
# Each side works in a private network namespace made here (entered with nsenter, so that
# /sys/fs/cgroup stays visible); both are deleted at the end, also on failure or Ctrl-C. The
# machine's own ruleset is never touched. bench/README.md says more.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ckube=${CKUBE_BIN:-$repo/build/ckube}
runs=${BENCH_SVC_RUNS:-10}
big_runs=${BENCH_SVC_BIG_RUNS:-3}
cycles=${BENCH_SVC_CYCLES:-50}
rounds=${BENCH_SVC_ROUNDS:-3}
large=${BENCH_SVC_LARGE:-10000}
sizes=(100 1000 "$large")
node=bench-node

for tool in hyperfine jq nft ip nsenter /usr/bin/python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is missing; run scripts/deps.sh (as root) first" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "bench: network namespaces and nftables need root" >&2
	exit 1
fi
if ! "$ckube" proxy --help >/dev/null 2>&1; then
	echo "bench: $ckube has no 'proxy' command" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ckube-bench-services.XXXXXX")
ns_ck=ckb-svc-$$-ckube
ns_kp=ckb-svc-$$-kp
memcg=/sys/fs/cgroup/memory
cg_ck=$memcg/ckb-svc-$$-ckube
cg_kp=$memcg/ckb-svc-$$-kp

cleanup() {
	local status=$? name
	# Deleting a namespace frees its tables, and with them the kernel memory charged to the
	# cgroups, which hold no process by then.
	for name in "$ns_ck" "$ns_kp"; do
		[ ! -e "/run/netns/$name" ] || ip netns del "$name" || true
	done
	for name in "$cg_ck" "$cg_kp"; do
		[ ! -d "$name" ] || rmdir "$name" || true
	done
	rm -rf "$work"
	for name in "$ns_ck" "$ns_kp"; do
		if [ -e "/run/netns/$name" ]; then
			echo "bench: network namespace $name is still there" >&2
			status=1
		fi
	done
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy of the binary is timed, so that a rebuild during the run changes nothing.
cp "$ckube" "$work/ckube"
ckube=$work/ckube
sync=("$ckube" proxy sync --node-name "$node")

# in_ns NS COMMAND...: COMMAND in that network namespace, nothing else changed (`ip netns exec`
# would remount /sys and hide /sys/fs/cgroup).
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# time_it NAME NS [hyperfine options...] COMMAND: hyperfine in NS; the JSON export goes to
# $work/NAME.json, everything printed (with --show-output, the command's own lines) to NAME.out.
time_it() {
	local name=$1 ns=$2
	shift 2
	if ! in_ns "$ns" hyperfine -N --export-json "$work/$name.json" "$@" >"$work/$name.out" 2>&1; then
		echo "bench: timing '$name' failed:" >&2
		tail -n 20 "$work/$name.out" >&2
		exit 1
	fi
}

# median_ms NAME: the median of a hyperfine export, in milliseconds.
median_ms() {
	jq -r '.results[0].median * 1000 | . * 1000 | round / 1000' "$work/$1.json"
}

# median: the median of the numbers on stdin (one a line).
median() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "?"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m}'
}

# quantile Q: the nearest-rank Q quantile (0 < Q <= 1) of the numbers on stdin.
quantile() {
	sort -g | awk -v q="$1" '{v[NR] = $1} END {i = int(NR * q + 0.999999); printf "%.3f", v[i]}'
}

# reported_ms FILE SKIP: the "X ms" of every line of FILE that ckube printed for a sync, the first
# SKIP (hyperfine's warm-up runs) left out.
reported_ms() {
	grep '^sync of ' "$1" | tail -n "+$(($2 + 1))" | sed -E 's/^[^:]*: ([0-9.]+) ms.*/\1/'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3g", a / b; else printf "?"}'
}

mib() {
	awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'
}

# load_in_memcg CGROUP NS COMMAND: COMMAND run once in NS from inside a new v1 memory cgroup;
# prints the kernel memory charged to it once COMMAND has exited (what the loaded rules hold:
# the process's own kernel memory went with it).
load_in_memcg() {
	local cg=$1 ns=$2
	shift 2
	mkdir "$cg"
	# shellcheck disable=SC2016 # $$ and "$@" are the inner shell's
	in_ns "$ns" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" >"$work/memcg.out"
	cat "$cg/memory.kmem.usage_in_bytes"
}

# after_delete_bytes CGROUP: the charge left once the rules are deleted (the kernel frees them
# after an RCU grace period); then the cgroup goes.
after_delete_bytes() {
	sleep 0.5
	cat "$1/memory.kmem.usage_in_bytes"
	rmdir "$1"
}

echo "ckube Service proxy benchmark: $("$ckube" version | head -n 1); peer: $(nft --version)" \
	"with kube-proxy's nftables layout"
echo "machine: $(nproc) CPUs, Linux $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- input files ------------------------------------------------------------------------------
gen() { /usr/bin/python3 "$here/services_gen.py" "$@"; }
for n in "${sizes[@]}"; do
	gen objects "$n" >"$work/objects-$n.json"
	gen objects $((n + 1)) >"$work/objects-$((n + 1)).json"
	gen events "$n" "$cycles" "$node" >"$work/events-$n.jsonl"
	gen kp-rules "$n" >"$work/kp-$n.nft"
	gen kp-change "$n" >"$work/kp-change-$n.nft"
	gen kp-unchange "$n" >"$work/kp-unchange-$n.nft"
done
gen kp-add >"$work/kp-add.nft"
gen kp-del >"$work/kp-del.nft"
: >"$work/empty.nft"

for name in "$ns_ck" "$ns_kp"; do
	ip netns add "$name"
	ip -n "$name" link set lo up
done
kmem=yes
if ! [ -e "$memcg/memory.kmem.usage_in_bytes" ]; then
	kmem=
	echo "bench: no cgroup v1 memory controller with kmem accounting at $memcg: the kernel" \
		"memory figures are left out"
fi

# check_ckube N: ckube's table holds N Services (the elements of its cluster-ips set).
check_ckube() {
	local have
	have=$(in_ns "$ns_ck" nft -j list set ip ckube-proxy cluster-ips |
		jq '[.nftables[] | .set? | select(.) | .elem // [] | length] | add')
	if [ "$have" != "$1" ]; then
		echo "bench: ckube's cluster-ips set holds $have elements, not $1" >&2
		exit 1
	fi
}

# check_kp N: kube-proxy's layout for N Services is loaded (the only table in its namespace):
# 6 fixed chains and 4 a Service.
check_kp() {
	local have
	have=$(in_ns "$ns_kp" nft list chains ip | grep -c '^\s*chain ' || true)
	if [ "$have" != $((6 + 4 * $1)) ]; then
		echo "bench: kube-proxy's table has $have chains, not $((6 + 4 * $1)) for $1 Services" >&2
		exit 1
	fi
}

# check_changes N: after the first half of a cycle (a Service added, an endpoint of svc-1
# replaced), the table has the new Service with its 3 endpoints and the replaced endpoint.
check_changes() {
	local n=$1 backends
	head -n 3 "$work/events-$n.jsonl" >"$work/half-cycle.jsonl"
	in_ns "$ns_ck" "${sync[@]}" --changes "$work/half-cycle.jsonl" "$work/objects-$n.json" >/dev/null
	check_ckube $((n + 1))
	backends=$(in_ns "$ns_ck" nft list map ip ckube-proxy backends)
	if [ "$(grep -c '^.*10\.111\.0\.1 \. tcp \. 80 .*: 10\.244\.250\.' <<<"$backends")" != 3 ] ||
		! grep -q ': 10\.244\.200\.1 \. 8080' <<<"$backends"; then
		echo "bench: after adding bench-new and changing svc-1, ckube's backends map lacks" \
			"them" >&2
		exit 1
	fi
}

# split_changes N: ckube's lines "change K TYPE KIND ns/name: X ms: ..." from the change rounds,
# sorted into one sample per cycle for "add" (the Service's commit plus its Endpoints') and
# "delete" (the same), and two a cycle for "change" (the endpoint replaced, then put back).
# Each event alone goes to event-<position in the cycle>.
split_changes() {
	local out=$work/changes-$1
	awk -v out="$out" '
		/^change / {
			match($0, /: [0-9.]+ ms/); ms = substr($0, RSTART + 2, RLENGTH - 5)
			i = ($2 - 1) % 6; print ms > (out ".event-" i)
			if (i == 0 || i == 3) part = ms
			else if (i == 1) print part + ms > (out ".add")
			else if (i == 4) print part + ms > (out ".delete")
			else print ms > (out ".change")
		}' "$out.out"
}

# --- ckube --------------------------------------------------------------------------------------
# measure_ckube N: full loads, kernel memory, the change cycles, the restart path, reconcile.
measure_ckube() {
	local n=$1 file=$work/objects-$1.json r
	echo "ckube, $n Services ..."
	# The kernel frees a deleted table after the commit returns; the pause keeps that out of
	# the next timing.
	time_it "ck-load-$n" "$ns_ck" --show-output --warmup 2 --runs "$runs" \
		--prepare "sh -c '$ckube proxy delete && sleep 0.2'" "${sync[*]} $file"
	in_ns "$ns_ck" "$ckube" proxy delete
	if [ -n "$kmem" ]; then
		load_in_memcg "$cg_ck" "$ns_ck" "${sync[@]}" "$file" >"$work/ck-kmem-$n"
	else
		in_ns "$ns_ck" "${sync[@]}" "$file" >/dev/null
	fi
	check_ckube "$n"

	check_changes "$n"
	: >"$work/changes-$n.out"
	for ((r = 1; r <= rounds; r++)); do
		in_ns "$ns_ck" "${sync[@]}" --changes "$work/events-$n.jsonl" "$file" >>"$work/changes-$n.out"
	done
	split_changes "$n"

	# Every cycle undoes what it did: a sync of the same Services must find nothing to send.
	# Then that sync is timed: the restart path on a table that is right.
	in_ns "$ns_ck" "${sync[@]}" "$file" >"$work/ck-converged-$n"
	if ! grep -q ': 0 elements added, 0 deleted; chains 0 added, 0 rewritten, 0 deleted; 0 messages' \
		"$work/ck-converged-$n"; then
		echo "bench: after the change cycles a sync of the same $n Services still changed" \
			"the table:" >&2
		cat "$work/ck-converged-$n" >&2
		exit 1
	fi
	time_it "ck-reconcile-$n" "$ns_ck" --show-output --warmup 2 --runs "$runs" "${sync[*]} $file"
	time_it "ck-restart-$n" "$ns_ck" --show-output --warmup 2 --runs "$runs" \
		--prepare "sh -c '${sync[*]} $file >/dev/null'" \
		"${sync[*]} $work/objects-$((n + 1)).json"

	in_ns "$ns_ck" "$ckube" proxy delete
	if [ -n "$kmem" ]; then
		after_delete_bytes "$cg_ck" >"$work/ck-kmem-left-$n"
	fi
}

# --- the peer: kube-proxy's layout -----------------------------------------------------------
# measure_kp N: the same figures for kube-proxy's layout, each change a `nft -f` of its commands.
measure_kp() {
	local n=$1 file=$work/kp-$1.nft r=$runs warm=2
	echo "kube-proxy layout, $n Services ..."
	if [ "$n" -ge 5000 ]; then
		r=$big_runs warm=0
	fi
	time_it "kp-load-$n" "$ns_kp" --warmup "$warm" --runs "$r" \
		--prepare "sh -c 'nft flush ruleset && sleep 0.2'" "nft -f $file"
	in_ns "$ns_kp" nft flush ruleset
	if [ -n "$kmem" ]; then
		load_in_memcg "$cg_kp" "$ns_kp" nft -f "$file" >"$work/kp-kmem-$n"
	else
		in_ns "$ns_kp" nft -f "$file"
	fi
	check_kp "$n"

	# Each change is undone by the preparation of the next run (which fails harmlessly before
	# the first one).
	time_it "kp-add-$n" "$ns_kp" --warmup 2 --runs "$runs" \
		--prepare "sh -c 'nft -f $work/kp-del.nft 2>/dev/null; true'" "nft -f $work/kp-add.nft"
	time_it "kp-delete-$n" "$ns_kp" --warmup 2 --runs "$runs" \
		--prepare "sh -c 'nft -f $work/kp-add.nft 2>/dev/null; true'" "nft -f $work/kp-del.nft"
	time_it "kp-change-$n" "$ns_kp" --warmup 2 --runs "$runs" \
		--prepare "sh -c 'nft -f $work/kp-unchange-$n.nft 2>/dev/null; true'" \
		"nft -f $work/kp-change-$n.nft"
	in_ns "$ns_kp" nft -f "$work/kp-unchange-$n.nft"
	in_ns "$ns_kp" nft -f "$work/kp-add.nft"
	check_kp $((n + 1))

	in_ns "$ns_kp" nft flush ruleset
	if [ -n "$kmem" ]; then
		after_delete_bytes "$cg_kp" >"$work/kp-kmem-left-$n"
	fi
}

for n in "${sizes[@]}"; do
	measure_ckube "$n"
	measure_kp "$n"
done
time_it kp-empty "$ns_kp" --warmup 3 --runs 30 "nft -f $work/empty.nft"

# --- the tables --------------------------------------------------------------------------------
met=0 total=0
# judge VALUE LIMIT: sets $verdict to "met" when VALUE <= LIMIT, else "missed", and counts it.
judge() {
	total=$((total + 1))
	if awk -v v="$1" -v l="$2" 'BEGIN {exit !(v <= l)}'; then
		met=$((met + 1))
		verdict=met
	else
		verdict=missed
	fi
}
row() { printf '%-44s %10s %10s %12s %8s  %s\n' "$@"; }
change_ms() { median <"$work/changes-$1.$2"; }

echo
echo "Full load from scratch (median ms; ckube: whole command, and in-process as it printed; a"
echo "whole command includes the kernel's cleanup when it closes its nf_tables socket)"
row "" "ckube" "in-process" "kube-proxy" "ratio" "target"
for n in "${sizes[@]}"; do
	ck=$(median_ms "ck-load-$n")
	target=
	if [ "$n" = 10000 ]; then
		judge "$ck" 1000
		target="< 1000 ms: $verdict"
	fi
	row "$n Services" "$ck" "$(reported_ms "$work/ck-load-$n.out" 2 | median)" \
		"$(median_ms "kp-load-$n")" "$(ratio "$ck" "$(median_ms "kp-load-$n")")" "$target"
done

echo
if [ -n "$kmem" ]; then
	echo "Kernel memory the loaded rules hold (MiB; kmem charge of the loading process's cgroup)"
	row "" "ckube" "" "kube-proxy" "ratio" ""
	for n in "${sizes[@]}"; do
		ck=$(cat "$work/ck-kmem-$n") kp=$(cat "$work/kp-kmem-$n")
		row "$n Services" "$(mib "$ck")" "" "$(mib "$kp")" "$(ratio "$ck" "$kp")" ""
	done
	left=
	for n in "${sizes[@]}"; do
		left+="${left:+; }$n: ckube $(mib "$(cat "$work/ck-kmem-left-$n")"), kube-proxy"
		left+=" $(mib "$(cat "$work/kp-kmem-left-$n")")"
	done
	echo "  charge left once the rules are deleted again (MiB) at $left"
else
	echo "Kernel memory: not measured (no cgroup v1 memory controller with kmem accounting)."
fi

echo
echo "One Service changed with N present (median ms; ckube: in-process, from the watch event to"
echo "the kernel's answer, $((cycles * rounds)) samples, twice as many for change; kube-proxy:"
echo "nft -f, whole process, $runs runs)"
row "" "ckube" "" "kube-proxy" "ratio" "target"
for kind in add change delete; do
	label="$kind one Service"
	[ "$kind" != change ] || label="change one endpoint"
	for n in "${sizes[@]}"; do
		ck=$(change_ms "$n" "$kind") kp=$(median_ms "kp-$kind-$n")
		target=
		if [ "$n" = 10000 ]; then
			judge "$ck" 2
			target="< 2 ms: $verdict"
		fi
		row "$label, $n present" "$ck" "" "$kp" "$(ratio "$ck" "$kp")" "$target"
	done
done
echo "(add and delete: the Service's commit plus its Endpoints'; change: one endpoint of an"
echo "existing Service replaced, then put back. kube-proxy's change: a new endpoint chain, the"
echo "service chain rewritten, the old chain deleted, as kube-proxy does it.)"

echo
echo "No slower at $large than at 100 (ckube in-process medians, ms; 'met' when within 25 % or"
echo "0.02 ms, whichever is more: below that, cache misses move the figures)"
for kind in add change delete; do
	small=$(change_ms 100 "$kind") big=$(change_ms "$large" "$kind")
	judge "$big" "$(awk -v s="$small" 'BEGIN {print (s * 0.25 > 0.02) ? s * 1.25 : s + 0.02}')"
	printf '  %-8s %s at %s, %s at 100: ratio %s, %s\n' "$kind" "$big" "$large" "$small" \
		"$(ratio "$big" "$small")" "$verdict"
done
for kind in add change delete; do
	printf '  %s at %s: p90 %s, p99 %s, max %s ms\n' "$kind" "$large" \
		"$(quantile 0.9 <"$work/changes-$large.$kind")" \
		"$(quantile 0.99 <"$work/changes-$large.$kind")" "$(quantile 1 <"$work/changes-$large.$kind")"
done
for n in 100 "$large"; do
	echo "  each event alone at $n (ms): Service added $(median <"$work/changes-$n.event-0"), its" \
		"Endpoints added $(median <"$work/changes-$n.event-1"),"
	echo "    endpoint replaced $(median <"$work/changes-$n.event-2") and put back" \
		"$(median <"$work/changes-$n.event-5"), Service deleted" \
		"$(median <"$work/changes-$n.event-3"), its Endpoints deleted" \
		"$(median <"$work/changes-$n.event-4")"
done

echo
echo "Whole process, one command (median ms of $runs; the peer's figures above are these too)"
row "" "ckube" "in-process" "kube-proxy" "ratio" ""
for n in "${sizes[@]}"; do
	ck=$(median_ms "ck-restart-$n")
	row "restart path: sync $((n + 1)) over $n" "$ck" \
		"$(reported_ms "$work/ck-restart-$n.out" 2 | median)" "$(median_ms "kp-add-$n")" \
		"$(ratio "$ck" "$(median_ms "kp-add-$n")")" "(peer: add one)"
done
for n in "${sizes[@]}"; do
	row "reconcile $n already right" "$(median_ms "ck-reconcile-$n")" \
		"$(reported_ms "$work/ck-reconcile-$n.out" 2 | median)" "" "" ""
done
echo "  nft -f of an empty file (nft's process start, in every kube-proxy figure):" \
	"$(median_ms kp-empty) ms"
echo "  ckube's whole-process rows parse every Service and read the table back before they send"
echo "  anything: that is what the agent does once when it starts, not for a change."
echo
echo "Peers measured before on this kind of machine (kube-proxy layout, nft -f): full load of"
echo "1,000 about 301 ms, of 10,000 about 16.8 s; one Service added next to 10,000 about 148 ms;"
echo "kernel memory at 10,000 about 43 MiB."
echo "targets met: $met of $total (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
