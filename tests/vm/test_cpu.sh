#!/bin/sh
# vmtest-machines: node:10.0.2.10
# limits.cpu 100m becomes cpu.max "10000 100000" on the container's cgroup, and a busy loop in
# it gets one tenth of a core: its cgroup's usage_usec over a few seconds of wall time is within
# 10 % of 0.1 core (0.09 to 0.11), and the kernel reports throttled periods.
. /tests/lib.sh

import_images
start_server

kubectl apply -f - <<'YAML' || fail "apply pod spin"
apiVersion: v1
kind: Pod
metadata:
  name: spin
spec:
  containers:
  - name: spin
    image: busybox:vm
    imagePullPolicy: Never
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      limits:
        cpu: 100m
YAML
wait_until 60 "pod spin Running" pod_is spin Running
cg=$(pod_cgroup spin spin) || fail "no cgroup for container spin"
max=$(cat "$cg/cpu.max")
say "cpu.max of spin: $max"
[ "$max" = "10000 100000" ] || fail "cpu.max of spin is \"$max\", not \"10000 100000\" (100m)"

# Past the start, then over a window of whole periods: usage and wall time read together.
sleep 1
read -r up0 _ </proc/uptime
use0=$(cgroup_value "$cg/cpu.stat" usage_usec)
thr0=$(cgroup_value "$cg/cpu.stat" nr_throttled)
sleep 5
read -r up1 _ </proc/uptime
use1=$(cgroup_value "$cg/cpu.stat" usage_usec)
thr1=$(cgroup_value "$cg/cpu.stat" nr_throttled)
cores=$(awk -v u0="$use0" -v u1="$use1" -v t0="$up0" -v t1="$up1" \
	'BEGIN { printf "%.4f", (u1 - u0) / 1e6 / (t1 - t0) }')
say "spin used $((use1 - use0)) us of CPU in $(awk -v a="$up0" -v b="$up1" 'BEGIN { print b - a }') s: $cores cores; throttled $((thr1 - thr0)) periods"
[ "$((thr1 - thr0))" -gt 0 ] || fail "spin was never throttled"
awk -v c="$cores" 'BEGIN { exit !(c >= 0.09 && c <= 0.11) }' ||
	fail "spin used $cores cores, not 0.09 to 0.11"
say "PASS cpu"
