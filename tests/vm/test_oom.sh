#!/bin/sh
# vmtest-machines: node:10.0.2.10
# A container limited to 32Mi that touches 100 MiB is killed by the kernel's OOM killer in its
# own cgroup; the pod says OOMKilled and the container is restarted.
. /tests/lib.sh

import_images
start_server

t0=$(uptime_s)
kubectl apply -f - <<'YAML' || fail "apply pod hog"
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  containers:
  - name: hog
    image: testbin:vm
    imagePullPolicy: Never
    args: ["alloc", "100", "30"]
    resources:
      limits:
        memory: 32Mi
YAML

restarted() {
	pod_yaml hog >/tmp/hog.yaml
	n=$(yaml_field restartCount </tmp/hog.yaml | head -n 1)
	[ "${n:-0}" -ge 1 ] && yaml_field reason </tmp/hog.yaml | grep -qx OOMKilled
}
wait_until 120 "pod hog OOMKilled and restarted" restarted
say "hog OOMKilled and restarted after $(elapsed "$t0") s"
sed -n '/containerStatuses:/,$p' /tmp/hog.yaml | grep -E ' (reason|exitCode|restartCount):'

cg=$(pod_cgroup hog hog) || fail "no cgroup for container hog"
max=$(cat "$cg/memory.max")
[ "$max" = 33554432 ] || fail "memory.max of hog is $max, not 33554432 (32Mi)"
kills=$(cgroup_value "$cg/memory.events" oom_kill)
say "memory.max=$max oom_kill=$kills"
[ "${kills:-0}" -ge 1 ] || fail "memory.events of hog shows no oom_kill"
kubectl get pod hog
say "PASS oom"
