#!/bin/sh
# vmtest-machines: server:10.0.2.10 agent:10.0.2.11
# Two kernels, one cluster: `ckube server` on one machine, `ckube agent` joined to it on the
# other. A web pod on each node; a client pod on each node reaches the other node's web pod by
# its pod IP, and a client on the agent node reaches the server node's web pod through a
# ClusterIP Service.
. /tests/lib.sh

server_ip=$(host_ip server)

if [ "$1" = agent ]; then
	import_images
	start_agent "$server_ip"
	wait_done 200
	agent_alive
	say "PASS cluster (agent)"
	exit 0
fi

trap 'signal_done "$(host_ip agent)"' EXIT
import_images
start_server --listen "$VM_IP:6443"
serve_join
wait_until 120 "node agent Ready" node_ready agent
say "nodes Ready"
kubectl get nodes -o wide

# web-NODE: busybox httpd on NODE that serves its own name as /who.
web() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: web-$1
  labels:
    app: web-$1
spec:
  nodeName: $1
  containers:
  - name: web
    image: busybox:vm
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && hostname >/www/who && exec httpd -f -p 80 -h /www"]
    ports:
    - containerPort: 80
YAML
}

# client NAME NODE HOST PORT: a pod on NODE that asks HOST:PORT for /who (again while routes
# and rules settle, for 20 s at most) and prints "HOST:PORT: ANSWER".
client() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  nodeName: $2
  restartPolicy: Never
  containers:
  - name: client
    image: busybox:vm
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      i=0
      until answer=\$(printf 'GET /who HTTP/1.0\r\n\r\n' | nc -w 3 $3 $4 | tail -n 1) &&
          [ -n "\$answer" ]; do
        i=\$((i + 1)); [ \$i -lt 40 ] || { echo "$3:$4: no answer"; exit 1; }
        sleep 0.5
      done
      echo "$3:$4: \$answer"
YAML
}

done_pod() {
	_phase=$(pod_phase "$1")
	[ "$_phase" = Succeeded ] || [ "$_phase" = Failed ]
}

{ web server; echo ---; web agent; } | kubectl apply -f - || fail "apply web pods"
kubectl apply -f - <<'YAML' || fail "apply service web"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web-server
  ports:
  - port: 8080
    targetPort: 80
YAML
wait_until 90 "pod web-server Running" pod_is web-server Running
wait_until 90 "pod web-agent Running" pod_is web-agent Running
ip_server=$(pod_ip web-server)
ip_agent=$(pod_ip web-agent)
svc_ip=$(kubectl get service web -o yaml | yaml_field clusterIP | head -n 1)
say "web-server $ip_server, web-agent $ip_agent, service web $svc_ip"
if [ -z "$ip_server" ] || [ -z "$ip_agent" ] || [ -z "$svc_ip" ]; then
	fail "missing addresses"
fi

{
	client to-agent server "$ip_agent" 80
	echo ---
	client to-server agent "$ip_server" 80
	echo ---
	client to-service agent "$svc_ip" 8080
} | kubectl apply -f - || fail "apply client pods"
for p in to-agent to-server to-service; do
	wait_until 90 "pod $p finished" done_pod "$p"
	kubectl logs "$p"
done
[ "$(kubectl logs to-agent)" = "$ip_agent:80: web-agent" ] ||
	fail "pod to-agent (server node) did not reach web-agent (agent node) at $ip_agent"
[ "$(kubectl logs to-server)" = "$ip_server:80: web-server" ] ||
	fail "pod to-server (agent node) did not reach web-server (server node) at $ip_server"
[ "$(kubectl logs to-service)" = "$svc_ip:8080: web-server" ] ||
	fail "pod to-service (agent node) did not reach Service web at $svc_ip:8080"
for p in to-agent to-server to-service; do
	pod_is "$p" Succeeded || fail "pod $p ended $(pod_phase "$p")"
done
say "PASS cluster"
