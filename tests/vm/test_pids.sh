#!/bin/sh
# vmtest-machines: node:10.0.2.10
# The agent's podPidsLimit (<config-dir>/agent.yaml, KubeletConfiguration's name) becomes
# pids.max on every pod's cgroup: a container that forks without end gets EAGAIN at the limit,
# and the node stays healthy (Ready, and another pod still starts).
. /tests/lib.sh

limit=24
mkdir -p /etc/ckube
printf 'podPidsLimit: %s\n' "$limit" >/etc/ckube/agent.yaml
import_images
start_server

# 400 forks held for 20 s: far past the limit, and still there while the node is checked.
kubectl apply -f - <<'YAML' || fail "apply pod bomb"
apiVersion: v1
kind: Pod
metadata:
  name: bomb
spec:
  restartPolicy: Never
  containers:
  - name: bomb
    image: testbin:vm
    imagePullPolicy: Never
    args: ["fork", "400", "20"]
YAML
forked() {
	kubectl logs bomb 2>/dev/null | grep -q '^forked='
}
wait_until 90 "pod bomb reports its forks" forked
kubectl logs bomb
cg=$(pod_cgroup bomb bomb) || fail "no cgroup for container bomb"
pod_max=$(cat "$(dirname "$cg")/pids.max")
current=$(cat "$(dirname "$cg")/pids.current")
say "pod cgroup of bomb: pids.max=$pod_max pids.current=$current"
n=$(kubectl logs bomb | sed -n 's/^forked=//p')
[ "$pod_max" = "$limit" ] || fail "pids.max of pod bomb is $pod_max, not podPidsLimit $limit"
kubectl logs bomb | grep -qx 'fork_error=EAGAIN' || fail "fork never failed in bomb (forked=$n)"
[ "$n" -lt "$limit" ] || fail "bomb forked $n processes, past the limit $limit"
[ "$current" -le "$limit" ] || fail "pod bomb has $current pids, past the limit $limit"

# The node meanwhile: Ready, and a new pod starts while the bomb still holds its processes.
node_ready "$VM_NAME" || fail "node $VM_NAME is not Ready with the bomb running"
kubectl apply -f - <<'YAML' || fail "apply pod after"
apiVersion: v1
kind: Pod
metadata:
  name: after
spec:
  containers:
  - name: after
    image: testbin:vm
    imagePullPolicy: Never
YAML
wait_until 60 "pod after Running next to the bomb" pod_is after Running
pod_is bomb Running || fail "bomb ended before pod after started (phase $(pod_phase bomb))"
node_ready "$VM_NAME" || fail "node $VM_NAME is not Ready after the bomb"
kubectl get pods
say "PASS pids"
