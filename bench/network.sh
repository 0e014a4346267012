#!/usr/bin/env bash
# Pod network setup and teardown of build/ckube against the CNI bridge plugin (Debian's
# containernetworking-plugins: /usr/lib/cni/bridge with host-local IPAM), side by side in one run:
#   - one pod, hyperfine: `ckube network add` against CNI ADD on a namespace that exists, the
#     same with the namespace made by the command (against `ip netns add` + CNI ADD), and
#     `ckube network del` (which removes the namespace pin) against CNI DEL with and without
#     `ip netns del`
#   - 100 pods one after another, set up and then torn down, each command timed on its own
#     (bash's $EPOCHREALTIME, no process for the clock), several rounds
# Each side works in a private "node" network namespace made here (its bridge, gateway and
# pods' veth host ends live there); the pods' namespaces are pinned under /run/netns with names
# of this run. Everything is deleted at the end, also on failure or Ctrl-C.
# bench/README.md says more.
set -euo pipefail

# --- one round of the 100-pod loops: the bench below runs this script so in a node namespace ---
if [ "${1:-}" = --bulk ]; then
	# --bulk SIDE ROUND: NET_* variables come from the caller's environment.
	side=$2 round=$3
	out=$NET_WORK/bulk
	adds=$out/$side-add.us dels=$out/$side-del.us totals=$out/$side-totals
	failed() { # COMMAND-WORDS...: say what failed, with its output
		echo "bench: failed (pod $i of $NET_PODS, round $round): $*" >&2
		cat "$out/last.err" >&2 || true
		exit 1
	}
	us() { local t=${EPOCHREALTIME//[.,]/}; echo "$((10#$t))"; }
	add_times=() del_times=() cni_only_add=() cni_only_del=()
	loop_start=$(us)
	for ((i = 1; i <= NET_PODS; i++)); do
		if [ "$side" = ckube ]; then
			ns=/run/netns/$NET_TAG-ck-$i
			t0=${EPOCHREALTIME//[.,]/}
			"$NET_CKUBE" network add --netns "$ns" --id "ck-$i" --pod-cidr "$NET_CIDR" \
				--data-dir "$NET_WORK/ckube-data" >"$out/addr-$i" 2>"$out/last.err" ||
				failed "$NET_CKUBE" network add --netns "$ns" --id "ck-$i" --pod-cidr "$NET_CIDR" \
					--data-dir "$NET_WORK/ckube-data"
			t1=${EPOCHREALTIME//[.,]/}
		else
			ns=/run/netns/$NET_TAG-cni-$i
			t0=${EPOCHREALTIME//[.,]/}
			ip netns add "${ns##*/}" 2>"$out/last.err" || failed ip netns add "${ns##*/}"
			tm=${EPOCHREALTIME//[.,]/}
			CNI_COMMAND=ADD CNI_CONTAINERID=cni-$i CNI_NETNS=$ns CNI_IFNAME=eth0 \
				CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge <"$NET_WORK/cni.json" \
				>"$out/result-$i" 2>"$out/last.err" || failed CNI ADD "cni-$i" "$ns"
			t1=${EPOCHREALTIME//[.,]/}
			cni_only_add+=($((10#$t1 - 10#$tm)))
		fi
		add_times+=($((10#$t1 - 10#$t0)))
	done
	add_total=$(($(us) - loop_start))
	if [ "$round" = 0 ]; then
		# Untimed round: check once that every pod got what it should.
		"$0" --check "$side"
	fi
	loop_start=$(us)
	for ((i = 1; i <= NET_PODS; i++)); do
		if [ "$side" = ckube ]; then
			ns=/run/netns/$NET_TAG-ck-$i
			t0=${EPOCHREALTIME//[.,]/}
			"$NET_CKUBE" network del --netns "$ns" --id "ck-$i" --pod-cidr "$NET_CIDR" \
				--data-dir "$NET_WORK/ckube-data" >/dev/null 2>"$out/last.err" ||
				failed "$NET_CKUBE" network del --netns "$ns" --id "ck-$i" --pod-cidr "$NET_CIDR" \
					--data-dir "$NET_WORK/ckube-data"
			t1=${EPOCHREALTIME//[.,]/}
		else
			ns=/run/netns/$NET_TAG-cni-$i
			t0=${EPOCHREALTIME//[.,]/}
			CNI_COMMAND=DEL CNI_CONTAINERID=cni-$i CNI_NETNS=$ns CNI_IFNAME=eth0 \
				CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge <"$NET_WORK/cni.json" \
				>/dev/null 2>"$out/last.err" || failed CNI DEL "cni-$i" "$ns"
			tm=${EPOCHREALTIME//[.,]/}
			ip netns del "${ns##*/}" 2>"$out/last.err" || failed ip netns del "${ns##*/}"
			t1=${EPOCHREALTIME//[.,]/}
			cni_only_del+=($((10#$tm - 10#$t0)))
		fi
		del_times+=($((10#$t1 - 10#$t0)))
	done
	del_total=$(($(us) - loop_start))
	# The kernel frees a namespace (and the veth in it) after its last pin is gone, on a
	# worker of its own; wait for it, so that it does not run into the next timed loop.
	settle_start=$(us)
	"$0" --settle 0
	settle=$(($(us) - settle_start))
	sleep 0.1
	if [ "$side" = ckube ]; then
		for ((i = 1; i <= NET_PODS; i++)); do
			if [ -e "/run/netns/$NET_TAG-ck-$i" ]; then
				echo "bench: /run/netns/$NET_TAG-ck-$i still exists after ckube network del" >&2
				exit 1
			fi
		done
	fi
	if [ "$round" != 0 ]; then
		printf '%s\n' "${add_times[@]}" >>"$adds"
		printf '%s\n' "${del_times[@]}" >>"$dels"
		echo "$add_total $del_total $settle" >>"$totals"
		if [ "$side" = cni ]; then
			printf '%s\n' "${cni_only_add[@]}" >>"$out/cni-add-only.us"
			printf '%s\n' "${cni_only_del[@]}" >>"$out/cni-del-only.us"
		fi
	fi
	exit 0
fi

# --settle [PAUSE]: wait (up to 30 s) until this node namespace has no veth left, then PAUSE
# seconds (0.1 unless given) more. A namespace whose pin is gone is freed by a kernel worker
# after the call returned; the veth leaves the node's list midway, and the rest of that work
# (RCU grace periods, device teardown under the rtnl lock) must not run into the next timing.
if [ "${1:-}" = --settle ]; then
	for _ in $(seq 3000); do
		if [ -z "$(ip -o link show type veth)" ]; then
			sleep "${2:-0.1}"
			exit 0
		fi
		sleep 0.01
	done
	echo "bench: veths still in the node namespace after 30 s:" >&2
	ip -o link show type veth >&2
	exit 1
fi

# --check SIDE: NET_PODS pods are set up: distinct addresses in NET_CIDR, each pod namespace has
# eth0 up with its address and a default route via the gateway, and the node namespace (the
# current one) has the bridge with the gateway address and one veth per pod on it, all up.
if [ "${1:-}" = --check ]; then
	side=$2
	out=$NET_WORK/bulk
	gateway=${NET_CIDR%.*/*}.1
	problems=0
	bad() {
		echo "bench: check ($side): $*" >&2
		problems=$((problems + 1))
	}
	: >"$out/addresses"
	for ((i = 1; i <= NET_PODS; i++)); do
		if [ "$side" = ckube ]; then
			ns=$NET_TAG-ck-$i
			address=$(tr -d '[:space:]' <"$out/addr-$i")
		else
			ns=$NET_TAG-cni-$i
			address=$(jq -r '.ips[0].address' "$out/result-$i")
		fi
		echo "$address" >>"$out/addresses"
		if ! [[ $address =~ ^${NET_CIDR%.*/*}\.[0-9]+/${NET_CIDR#*/}$ ]]; then
			bad "pod $i: printed address '$address' is not in $NET_CIDR"
			continue
		fi
		link=$(ip -n "$ns" -o link show dev eth0 2>&1) || {
			bad "pod $i: no eth0 in $ns: $link"
			continue
		}
		[[ $link == *[\<,]UP[,\>]* && $link == *LOWER_UP* ]] || bad "pod $i: eth0 not up: $link"
		addrs=$(ip -n "$ns" -o -4 addr show dev eth0)
		[[ $addrs == *"inet $address "* ]] || bad "pod $i: eth0 lacks $address: $addrs"
		routes=$(ip -n "$ns" -4 route show)
		[[ $routes == *"default via $gateway dev eth0"* ]] ||
			bad "pod $i: no default route via $gateway: $routes"
	done
	distinct=$(sort -u "$out/addresses" | wc -l)
	[ "$distinct" = "$NET_PODS" ] || bad "$distinct distinct addresses for $NET_PODS pods"
	bridge=$([ "$side" = ckube ] && echo ckube0 || echo ckb-cni0)
	addrs=$(ip -o -4 addr show dev "$bridge" 2>&1 || true)
	[[ $addrs == *"inet $gateway/${NET_CIDR#*/} "* ]] ||
		bad "bridge $bridge lacks $gateway/${NET_CIDR#*/}: $addrs"
	veths=$(ip -o link show master "$bridge" type veth | grep -c 'state UP' || true)
	[ "$veths" = "$NET_PODS" ] || bad "$veths veths up on $bridge for $NET_PODS pods"
	if [ "$problems" != 0 ]; then
		exit 1
	fi
	echo "  $side: $NET_PODS pods, $distinct distinct addresses, eth0 up with its address and a" \
		"default route via $gateway in each; $veths veths up on $bridge"
	exit 0
fi

# --- the bench ------------------------------------------------------------------------------
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
self=$here/$(basename "$0")
ckube=${CKUBE_BIN:-$repo/build/ckube}
runs=${BENCH_NET_RUNS:-50}
pods=${BENCH_NET_PODS:-100}
rounds=${BENCH_NET_ROUNDS:-5}
cidr=10.201.0.0/24
# 10.201.0.0/24 holds 253 pods besides the gateway: one round's pods must fit.
if [ "$pods" -gt 250 ]; then
	echo "bench: BENCH_NET_PODS is at most 250" >&2
	exit 1
fi

for tool in hyperfine jq ip nsenter; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is missing; run scripts/deps.sh (as root) first" >&2
		exit 1
	fi
done
if ! [ -x /usr/lib/cni/bridge ] || ! [ -x /usr/lib/cni/host-local ]; then
	echo "bench: the CNI plugins (containernetworking-plugins) are missing; run scripts/deps.sh" \
		"(as root) first" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench: network namespaces need root" >&2
	exit 1
fi
if ! "$ckube" network --help >/dev/null 2>&1; then
	echo "bench: $ckube has no 'network' command" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ckube-bench-network.XXXXXX")
tag=ckb-$$
node_ck=ckb-node-$$-ckube
node_cni=ckb-node-$$-cni

cleanup() {
	local status=$? name
	# Every namespace of this run: the two nodes and the pods (pins made by `ip netns add` or
	# by ckube alike). Without its pin a pod namespace goes away, and its veth with it.
	for name in /run/netns/"$node_ck" /run/netns/"$node_cni" /run/netns/"$tag"-*; do
		[ -e "$name" ] && { ip netns del "${name##*/}" 2>/dev/null || true; }
	done
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A copy of the binary is timed, so that a rebuild during the run changes nothing.
cp "$ckube" "$work/ckube"
ckube=$work/ckube

for node in "$node_ck" "$node_cni"; do
	ip netns add "$node"
	ip -n "$node" link set lo up
done
mkdir -p "$work/bulk" "$work/cni-ipam" "$work/ckube-data"
# The CNI network the bridge plugin sets up, the same as ckube's: bridge with the gateway
# address, veth, an address from host-local, a default route, no masquerade.
cat >"$work/cni.json" <<JSON
{ "cniVersion": "1.0.0", "name": "ckbnet", "type": "bridge", "bridge": "ckb-cni0",
  "isGateway": true, "ipMasq": false, "hairpinMode": false,
  "ipam": { "type": "host-local", "subnet": "$cidr", "dataDir": "$work/cni-ipam",
            "routes": [ { "dst": "0.0.0.0/0" } ] } }
JSON
export NET_WORK=$work NET_TAG=$tag NET_CKUBE=$ckube NET_CIDR=$cidr NET_PODS=$pods

# in_node NODE COMMAND...: COMMAND in the node's network namespace (nothing else changes: no
# /sys remount as `ip netns exec` does).
in_node() {
	local node=$1
	shift
	nsenter --net="/run/netns/$node" "$@"
}

# median_ms FILE: the median of a hyperfine JSON export, in milliseconds.
median_ms() {
	jq -r '.results[0].median * 1000 | . * 1000 | round / 1000' "$1"
}

# time_it NAME NODE [ENV=VALUE...] -- [hyperfine options...] COMMAND: times COMMAND in NODE's
# namespace into $work/NAME.json. On failure runs the prepare step and the command once more
# to show what they say.
time_it() {
	local name=$1 node=$2 envs=()
	shift 2
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	if ! in_node "$node" env "${envs[@]}" hyperfine -N --style none --warmup 3 --runs "$runs" \
		--export-json "$work/$name.json" "$@" >"$work/hyperfine.out" 2>&1; then
		echo "bench: timing '$name' failed:" >&2
		cat "$work/hyperfine.out" >&2
		local args=("$@") last=$(($# - 1))
		if [ "${args[0]}" = --prepare ]; then
			echo "bench: the prepare step once more: ${args[1]}" >&2
			in_node "$node" env "${envs[@]}" sh -c "${args[1]}" >&2 || true
		fi
		echo "bench: the command once more: ${args[$last]}" >&2
		in_node "$node" env "${envs[@]}" sh -c "${args[$last]}" >&2 || true
		exit 1
	fi
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'
}

echo "ckube pod network benchmark: $("$ckube" version | head -n 1); CNI bridge + host-local" \
	"(containernetworking-plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins \
		2>/dev/null || echo '?'))"
echo "machine: $(nproc) CPUs, Linux $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

ck_net=(--pod-cidr "$cidr" --data-dir "$work/ckube-data")
ck_one=/run/netns/$tag-ck-one
cni_one=/run/netns/$tag-cni-one
cni_env=(CNI_CONTAINERID=cni-one "CNI_NETNS=$cni_one" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni)
bridge_in="/usr/lib/cni/bridge <$work/cni.json"
cni_add="CNI_COMMAND=ADD $bridge_in >/dev/null"
cni_del="CNI_COMMAND=DEL $bridge_in >/dev/null"
settle="$self --settle"

# --- one pod ---------------------------------------------------------------------------------
echo "one pod ($runs runs each) ..."
# hyperfine -N cannot feed the plugin its configuration on stdin, so the CNI commands run as
# `sh -c '... </config'`; the shell's own cost is timed too (below) and taken off.
time_it true "$node_cni" -- /bin/true
time_it sh-true "$node_cni" -- "sh -c 'exec /bin/true <$work/cni.json'"

# A first pod each, untimed, to check the command does what it should and to make the bridge.
ip netns add "${ck_one##*/}"
address=$(in_node "$node_ck" "$ckube" network add --netns "$ck_one" --id ck-one "${ck_net[@]}")
echo "  ckube network add on an existing namespace printed $address; eth0 in the pod:" \
	"$(ip -n "${ck_one##*/}" -o -4 addr show dev eth0 | awk '{print $4}')," \
	"$(ip -n "${ck_one##*/}" -4 route show default)"
in_node "$node_ck" "$ckube" network del --netns "$ck_one" --id ck-one "${ck_net[@]}" >/dev/null
if [ -e "$ck_one" ]; then
	echo "bench: $ck_one still exists after ckube network del" >&2
	exit 1
fi
in_node "$node_ck" "$self" --settle

# setup on a namespace that exists: ckube network add against CNI ADD
time_it ck-add "$node_ck" -- \
	--prepare "sh -c '$ckube network del --netns $ck_one --id ck-one ${ck_net[*]} >/dev/null 2>&1; $settle && ip netns add ${ck_one##*/}'" \
	"$ckube network add --netns $ck_one --id ck-one ${ck_net[*]}"
ip netns add "${cni_one##*/}"
time_it cni-add "$node_cni" "${cni_env[@]}" -- \
	--prepare "sh -c '$cni_del'" \
	"sh -c 'CNI_COMMAND=ADD exec $bridge_in'"

# setup with the namespace: ckube network add makes it, against ip netns add + CNI ADD
time_it ck-add-ns "$node_ck" -- \
	--prepare "sh -c '$ckube network del --netns $ck_one --id ck-one ${ck_net[*]} >/dev/null 2>&1; $settle'" \
	"$ckube network add --netns $ck_one --id ck-one ${ck_net[*]}"
time_it cni-add-ns "$node_cni" "${cni_env[@]}" -- \
	--prepare "sh -c '$cni_del; ip netns del ${cni_one##*/} 2>/dev/null; $settle'" \
	"sh -c 'ip netns add ${cni_one##*/} && CNI_COMMAND=ADD exec $bridge_in'"

# teardown: ckube network del (the pin goes, the kernel removes the veth with the namespace),
# against CNI DEL (veth and address; the namespace stays) and CNI DEL + ip netns del
time_it ck-del "$node_ck" -- \
	--prepare "sh -c '$ckube network del --netns $ck_one --id ck-one ${ck_net[*]} >/dev/null 2>&1; $settle && $ckube network add --netns $ck_one --id ck-one ${ck_net[*]} >/dev/null'" \
	"$ckube network del --netns $ck_one --id ck-one ${ck_net[*]}"
time_it cni-del "$node_cni" "${cni_env[@]}" -- \
	--prepare "sh -c '$cni_del; $cni_add'" \
	"sh -c 'CNI_COMMAND=DEL exec $bridge_in'"
time_it cni-del-ns "$node_cni" "${cni_env[@]}" -- \
	--prepare "sh -c '$cni_del; ip netns del ${cni_one##*/} 2>/dev/null; $settle && ip netns add ${cni_one##*/} && $cni_add'" \
	"sh -c 'CNI_COMMAND=DEL $bridge_in >/dev/null && exec ip netns del ${cni_one##*/}'"
in_node "$node_ck" "$self" --settle
in_node "$node_cni" "$self" --settle

# --- 100 pods --------------------------------------------------------------------------------
echo "$pods pods one after another ($rounds rounds, after one untimed round that checks them) ..."
for ((round = 0; round <= rounds; round++)); do
	# Alternate the sides within each round, so that a busy spell on the machine hits both.
	in_node "$node_ck" "$self" --bulk ckube "$round"
	in_node "$node_cni" "$self" --bulk cni "$round"
done

# --- the table --------------------------------------------------------------------------------
sh_cost=$(awk -v a="$(median_ms "$work/sh-true.json")" -v b="$(median_ms "$work/true.json")" \
	'BEGIN {printf "%.3f", a - b}')
cni_ms() { # the CNI figure without the sh around it
	awk -v a="$(median_ms "$work/$1.json")" -v s="$sh_cost" 'BEGIN {printf "%.3f", a - s}'
}
# bulk_ms SIDE KIND: median per pod over all timed rounds (KIND add or del), in ms
bulk_ms() {
	sort -n "$work/bulk/$1-$2.us" | awk '{v[NR] = $1} END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m / 1000}'
}
# bulk_total_ms SIDE COLUMN: median over the rounds of a loop's total (1 add, 2 del, 3 settle)
bulk_total_ms() {
	awk -v c="$2" '{print $c}' "$work/bulk/$1-totals" | sort -n | awk '{v[NR] = $1} END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m / 1000}'
}
bulk_p99_ms() {
	sort -n "$work/bulk/$1-$2.us" | awk '{v[NR] = $1} END {
		i = int(NR * 0.99 + 0.999999); printf "%.3f", v[i] / 1000}'
}

met=0 total=0
row() { # FIGURE CKUBE CNI TARGET
	local r verdict
	r=$(ratio "$2" "$3")
	verdict=$(awk -v r="$r" -v t="$4" 'BEGIN {print (r <= t) ? "met" : "missed"}')
	total=$((total + 1))
	[ "$verdict" = missed ] || met=$((met + 1))
	printf '%-56s %9s %9s %7s %7s  %s\n' "$1" "$2" "$3" "$r" "<= $4" "$verdict"
}

echo
printf '%-56s %9s %9s %7s %7s  %s\n' figure "ckube ms" "CNI ms" ratio target ""
row "setup, namespace exists (CNI ADD)" "$(median_ms "$work/ck-add.json")" \
	"$(cni_ms cni-add)" 0.25
row "setup with the namespace (ip netns add + CNI ADD)" "$(median_ms "$work/ck-add-ns.json")" \
	"$(cni_ms cni-add-ns)" 0.25
row "teardown; CNI's namespace stays (CNI DEL)" "$(median_ms "$work/ck-del.json")" \
	"$(cni_ms cni-del)" 0.10
row "teardown with the namespace (CNI DEL + ip netns del)" "$(median_ms "$work/ck-del.json")" \
	"$(cni_ms cni-del-ns)" 0.10
row "$pods pods: setup with the namespace, per pod" "$(bulk_ms ckube add)" "$(bulk_ms cni add)" 0.25
row "$pods pods: teardown with the namespace, per pod" "$(bulk_ms ckube del)" \
	"$(bulk_ms cni del)" 0.10
echo
echo "$pods pods, median over $rounds rounds of the whole loop (ms): setup ckube" \
	"$(bulk_total_ms ckube 1), CNI $(bulk_total_ms cni 1); teardown ckube $(bulk_total_ms ckube 2)," \
	"CNI $(bulk_total_ms cni 2)"
echo "  per pod, CNI's part alone (ms): ADD $(bulk_ms cni add-only), DEL $(bulk_ms cni del-only)"
echo "  per pod p99 (ms): setup ckube $(bulk_p99_ms ckube add), CNI $(bulk_p99_ms cni add);" \
	"teardown ckube $(bulk_p99_ms ckube del), CNI $(bulk_p99_ms cni del)"
echo "  after the teardown loop the kernel took (median) ckube $(bulk_total_ms ckube 3) ms," \
	"CNI $(bulk_total_ms cni 3) ms more to free the namespaces and their veths"
echo "one pod: medians of $runs hyperfine runs. ckube's del always removes the namespace pin; the"
echo "kernel then frees the namespace and the veth on its own, as after ip netns del. The CNI rows"
echo "leave out the sh that feeds the plugin its configuration ($sh_cost ms, timed here); the"
echo "$pods-pod rows time each command from bash (its fork and exec included, like hyperfine -N)."
echo "Peers measured before on this machine: CNI ADD about 8.6 ms, the netlink floor about 2 ms."
echo "targets met: $met of $total (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
