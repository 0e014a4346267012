#!/bin/sh
# vmtest-machines: server:10.0.2.10 nfs:10.0.2.20 agent:10.0.2.11
# An `nfs:` volume: the kernel's NFSv4 server (nfsd) on one machine exports a tmpfs; a pod on
# node `server` writes a file there, is deleted, and a pod on node `agent` (another kernel)
# reads the same file back. The NFS machine checks that the file is on its export.
. /tests/lib.sh

server_ip=$(host_ip server)
nfs_ip=$(host_ip nfs)

# The NFS server: NFSv4 only, so no rpcbind, statd or lockd; rpc.mountd still answers the
# kernel's export lookups, and the grace period after start is ended at once.
if [ "$1" = nfs ]; then
	mkdir -p /export /proc/fs/nfsd
	mount -t tmpfs -o mode=0777 tmpfs /export
	echo '/export *(rw,fsid=0,no_root_squash,no_subtree_check,insecure)' >/etc/exports
	mount -t nfsd nfsd /proc/fs/nfsd || fail "mount nfsd"
	exportfs -r || fail "exportfs"
	rpc.mountd --no-nfs-version 2 --no-nfs-version 3 --no-udp || fail "rpc.mountd"
	rpc.nfsd --no-nfs-version 3 --no-udp 4 || fail "rpc.nfsd"
	echo Y >/proc/fs/nfsd/v4_end_grace
	say "serving /export over NFS versions $(cat /proc/fs/nfsd/versions)"
	wait_done 220
	ls -l /export
	[ -f /export/msg ] || fail "no msg on the export"
	[ "$(cat /export/msg)" = "$DONE_WORDS" ] ||
		fail "msg on the export is \"$(cat /export/msg)\", not \"$DONE_WORDS\""
	say "PASS nfs (server)"
	exit 0
fi

if [ "$1" = agent ]; then
	# A black hole for NFS: connections are taken and never answered, as a server that hangs.
	(sleep 100000 | nc -l -p 2049 >/dev/null) &
	import_images
	start_agent "$server_ip"
	wait_done 220
	agent_alive
	say "PASS nfs (agent)"
	exit 0
fi

token="written-by-writer-$(cut -c 1-8 /proc/sys/kernel/random/uuid)"
trap 'signal_done "$(host_ip agent)"; signal_done "$nfs_ip" "$token"' EXIT
import_images
start_server --listen "$VM_IP:6443"
serve_join
wait_until 120 "node agent Ready" node_ready agent

# The harness's own check that the export answers (a plain mount(2), as ckube is meant to
# make), so that a failure below is ckube's.
nfs_answers() {
	mount -t nfs4 -o "vers=4.2,addr=$nfs_ip,clientaddr=$VM_IP" "$nfs_ip:/" /mnt &&
		umount /mnt
}
wait_until 60 "the NFS export of $nfs_ip mounted by the harness" nfs_answers
say "the export of $nfs_ip answers"

# pod NAME NODE SCRIPT: a pod on NODE with the export at /data that runs SCRIPT once, after
# checking that /data is the NFS mount.
pod() {
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  nodeName: $2
  restartPolicy: Never
  volumes:
  - name: shared
    nfs:
      server: $nfs_ip
      path: /
  containers:
  - name: main
    image: busybox:vm
    imagePullPolicy: Never
    volumeMounts:
    - name: shared
      mountPath: /data
    command:
    - sh
    - -c
    - |
      # The server speaks 4.2: the node mounts the highest version both sides know.
      grep " /data nfs4 .*vers=4.2," /proc/mounts ||
        { echo "/data is not an NFSv4.2 mount"; grep " /data " /proc/mounts; exit 1; }
      $3
YAML
}

finished() {
	_phase=$(pod_phase "$1")
	[ "$_phase" = Succeeded ] || [ "$_phase" = Failed ]
}

pod writer server "echo $token >/data/msg && cat /data/msg" | kubectl apply -f - ||
	fail "apply pod writer"
wait_until 60 "pod writer finished" finished writer
kubectl logs writer
pod_is writer Succeeded || fail "pod writer ended $(pod_phase writer)"
kubectl delete pod writer || fail "delete pod writer"

pod reader agent "cat /data/msg" | kubectl apply -f - || fail "apply pod reader"
wait_until 90 "pod reader finished" finished reader
kubectl logs reader
pod_is reader Succeeded || fail "pod reader ended $(pod_phase reader)"
[ "$(kubectl logs reader | tail -n 1)" = "$token" ] ||
	fail "pod reader on node agent read \"$(kubectl logs reader | tail -n 1)\", not \"$token\""

# A server that takes the connection and never answers (the agent machine's black hole): the
# mount is given up after its deadline and the pod waits with a FailedMount event, while the
# agent, not held up, starts another pod meanwhile.
lost_ip=$(host_ip agent)
kubectl apply -f - <<YAML || fail "apply pod lost"
apiVersion: v1
kind: Pod
metadata:
  name: lost
spec:
  nodeName: server
  volumes:
  - name: gone
    nfs:
      server: $lost_ip
      path: /
  containers:
  - name: main
    image: busybox:vm
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    volumeMounts:
    - name: gone
      mountPath: /data
YAML
kubectl apply -f - <<YAML || fail "apply pod alive"
apiVersion: v1
kind: Pod
metadata:
  name: alive
spec:
  nodeName: server
  containers:
  - name: main
    image: busybox:vm
    imagePullPolicy: Never
    command: ["sleep", "3600"]
YAML
wait_until 30 "pod alive Running beside the hanging mount" pod_is alive Running
failed_mount() {
	kubectl get events -o json | grep -q "MountVolume.SetUp failed for volume .*gone.* timed out"
}
wait_until 60 "a FailedMount event for pod lost saying the mount timed out" failed_mount
kubectl get events -o json | grep "MountVolume.SetUp failed for volume .*gone" | head -n 1
pod_is lost Pending || fail "pod lost is $(pod_phase lost), not Pending"
node_ready server || fail "node server is not Ready while a mount hangs"
say "PASS nfs"
