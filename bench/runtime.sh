#!/usr/bin/env bash
# The container runtime of build/ckube against its peers, measured side by side in one run:
#   - `ckube run --rm --net none ROOTFS -- /bin/true` against `crun run` of the same busybox
#     root with the same namespaces (pid, network, ipc, uts, mount, cgroup)
#   - the same from an image (an overlay of its layers) instead of a directory
#   - a warm `ckube image pull` (everything present already) against skopeo copying the same
#     image into an OCI layout that already holds it
#   - importing an image with one 50 MB layer (verify and unpack) against GNU tar unpacking
#     the same layer
# Medians of hyperfine runs; the machine is shared, so compare the rows of one run and quote
# ratios. Everything lives in one temporary directory and one cgroup, removed at the end (also
# on failure); the local registry is stopped. bench/README.md says more.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ckube=${CKUBE_BIN:-$repo/build/ckube}
runs=${BENCH_START_RUNS:-100}
slow_runs=${BENCH_SLOW_RUNS:-10}

for tool in hyperfine crun skopeo jq tar gzip busybox; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench: $tool is missing; run scripts/deps.sh (as root) first" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "bench: containers need root" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ckube-bench-runtime.XXXXXX")
cgroup_root=ckube-bench-$$
cgroup_mount=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
registry_dir=$work/registry

cleanup() {
	local status=$?
	[ -d "$registry_dir" ] && "$repo/scripts/registry.sh" stop "$registry_dir" >/dev/null 2>&1
	if [ -n "$cgroup_mount" ] && [ -d "$cgroup_mount/$cgroup_root" ]; then
		find "$cgroup_mount/$cgroup_root" -depth -type d -exec rmdir {} + 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# median_ms FILE: the median of a hyperfine JSON export, in milliseconds.
median_ms() {
	jq -r '.results[0].median * 1000 | . * 100 | round / 100' "$1"
}

# time_it NAME RUNS [hyperfine options...] COMMAND: times COMMAND into $work/NAME.json.
time_it() {
	local name=$1 count=$2
	shift 2
	hyperfine -N --style none --warmup 3 --runs "$count" --export-json "$work/$name.json" \
		"$@" >/dev/null
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'
}

echo "ckube container runtime benchmark: $("$ckube" version | head -n 1); $(crun --version | head -n 1)"
echo "machine: $(nproc) CPUs, Linux $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- a busybox root, the same for both ---------------------------------------------------------
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/etc" "$rootfs/tmp"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for applet in sh true; do ln -s busybox "$rootfs/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

# crun's bundle: its default spec, running /bin/true in the same namespaces as `ckube run
# --net none`, with the root writable as ckube leaves a directory root.
bundle=$work/bundle
mkdir -p "$bundle"
(cd "$bundle" && crun spec)
jq --arg root "$rootfs" '.process.terminal = false | .process.args = ["/bin/true"]
	| .root = {path: $root, readonly: false} | .hostname = "bench"
	| .linux.namespaces = [{type: "pid"}, {type: "network"}, {type: "ipc"}, {type: "uts"},
		{type: "mount"}, {type: "cgroup"}]' "$bundle/config.json" >"$bundle/config.tmp"
mv "$bundle/config.tmp" "$bundle/config.json"

echo "container start and exit of /bin/true ..."
node_args=(--data-dir "$work/data" --run-dir "$work/run" --config-dir "$work/config"
	--cgroup-root "$cgroup_root")
# Both runtimes keep their state on a tmpfs, as they do under /run on a systemd machine (this
# one may have /run on disk). Each is timed in a mount namespace of its own, made here, where
# that tmpfs is mounted; the namespace goes with the command and the host's mounts stay as
# they are. crun 1.8 also refuses hybrid cgroups (v1 controllers beside a cgroup2 mount, as on
# the machines this was written on), so there its namespace also drops the cgroup2 mount: it
# then sees pure v1 and runs.
mkdir -p "$work/run" "$work/crun-state"
in_own_mounts() { # SETUP COMMAND...: COMMAND in a mount namespace of its own after SETUP
	local setup=$1
	shift
	unshare -m --propagation private bash -c "$setup && $(printf '%q ' "$@")"
}
in_own_mounts "mount -t tmpfs tmpfs $work/run" hyperfine -N --style none --warmup 3 \
	--runs "$runs" --export-json "$work/ckube-start.json" \
	"$ckube run --rm --net none ${node_args[*]} $rootfs -- /bin/true" >/dev/null
# The same without seccomp: the work crun's default spec asks for.
in_own_mounts "mount -t tmpfs tmpfs $work/run" hyperfine -N --style none --warmup 3 \
	--runs "$runs" --export-json "$work/ckube-start-unconfined.json" \
	"$ckube run --rm --net none --seccomp unconfined ${node_args[*]} $rootfs -- /bin/true" \
	>/dev/null
crun_setup="mount -t tmpfs tmpfs $work/crun-state"
[ "$cgroup_mount" = /sys/fs/cgroup ] || crun_setup="$crun_setup && umount $cgroup_mount"
in_own_mounts "$crun_setup" hyperfine -N --style none --warmup 3 --runs "$runs" \
	--export-json "$work/crun-start.json" \
	"crun --root $work/crun-state run -b $bundle ckube-bench-crun" >/dev/null

# --- images -------------------------------------------------------------------------------------
echo "images ..."
images=$work/images
IMAGES=busybox "$repo/scripts/test-images.sh" "$images" >/dev/null
address=$("$repo/scripts/registry.sh" start "$registry_dir")
"$repo/scripts/registry.sh" push "$images" "$address" busybox >/dev/null
mkdir -p "$work/config"
printf 'mirrors:\n  "%s":\n    endpoint: ["http://%s"]\n' "$address" "$address" \
	>"$work/config/registries.yaml"
image=$address/busybox:1
image_args=(--data-dir "$work/data" --config-dir "$work/config")
"$ckube" image "${image_args[@]}" pull "$image" >/dev/null 2>&1
time_it ckube-start-image "$runs" \
	"$ckube run --rm --net none ${node_args[*]} $image -- /bin/true"
time_it ckube-pull "$slow_runs" "$ckube image ${image_args[*]} pull $image"
skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$work/skopeo-layout:busybox" \
	>/dev/null
time_it skopeo-pull "$slow_runs" \
	"skopeo copy --quiet --src-tls-verify=false docker://$image oci:$work/skopeo-layout:busybox"

# --- a 50 MB layer --------------------------------------------------------------------------
echo "unpacking a 50 MB layer ..."
layer_root=$work/layer-root
mkdir -p "$layer_root/data"
for i in $(seq 50); do
	head -c 1048576 /dev/urandom >"$layer_root/data/file-$i"
done
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$layer_root" \
	-cf "$work/layer.tar" data
gzip -1 -n -c "$work/layer.tar" >"$work/layer.tar.gz"
# An OCI layout in a tar around it, for `ckube image import`.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
sha() { sha256sum "$1" | cut -d' ' -f1; }
diff_id=$(sha "$work/layer.tar")
layer_digest=$(sha "$work/layer.tar.gz")
layer_size=$(stat -c %s "$work/layer.tar.gz")
cp "$work/layer.tar.gz" "$layout/blobs/sha256/$layer_digest"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$diff_id" >"$work/config.json"
config_digest=$(sha "$work/config.json")
cp "$work/config.json" "$layout/blobs/sha256/$config_digest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
	"$config_digest" "$(stat -c %s "$work/config.json")" "$layer_digest" "$layer_size" \
	>"$work/manifest.json"
manifest_digest=$(sha "$work/manifest.json")
cp "$work/manifest.json" "$layout/blobs/sha256/$manifest_digest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bench.local/fifty:1"}}]}' \
	"$manifest_digest" "$(stat -c %s "$work/manifest.json")" >"$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
tar -C "$layout" -cf "$work/fifty.tar" oci-layout index.json blobs
time_it ckube-import "$slow_runs" --prepare "rm -rf $work/import-data" \
	"$ckube image --data-dir $work/import-data import $work/fifty.tar"
time_it tar-unpack "$slow_runs" --prepare "sh -c 'rm -rf $work/untar && mkdir $work/untar'" \
	"tar -xzf $work/layer.tar.gz -C $work/untar"

# --- the table --------------------------------------------------------------------------------
start=$(median_ms "$work/ckube-start.json")
start_unconfined=$(median_ms "$work/ckube-start-unconfined.json")
crun_start=$(median_ms "$work/crun-start.json")
start_image=$(median_ms "$work/ckube-start-image.json")
pull=$(median_ms "$work/ckube-pull.json")
skopeo_pull=$(median_ms "$work/skopeo-pull.json")
import=$(median_ms "$work/ckube-import.json")
untar=$(median_ms "$work/tar-unpack.json")
half_crun=$(awk -v c="$crun_start" 'BEGIN {printf "%.2f", c / 2}')
met=$(awk -v a="$start" -v b="$half_crun" 'BEGIN {print (a <= b) ? "yes" : "NO"}')

echo
printf '%-52s %10s %10s %7s\n' figure "ckube ms" "peer ms" ratio
printf '%-52s %10s %10s %7s\n' "run /bin/true in a directory root (peer: crun run)" \
	"$start" "$crun_start" "$(ratio "$start" "$crun_start")"
printf '%-52s %10s %10s %7s\n' "the same without seccomp, as crun's spec (peer: crun)" \
	"$start_unconfined" "$crun_start" "$(ratio "$start_unconfined" "$crun_start")"
printf '%-52s %10s %10s %7s\n' "run /bin/true from an image (overlay; peer: crun)" \
	"$start_image" "$crun_start" "$(ratio "$start_image" "$crun_start")"
printf '%-52s %10s %10s %7s\n' "warm image pull (peer: skopeo copy, blobs present)" \
	"$pull" "$skopeo_pull" "$(ratio "$pull" "$skopeo_pull")"
printf '%-52s %10s %10s %7s\n' "import one 50 MB layer (peer: tar -xzf of the layer)" \
	"$import" "$untar" "$(ratio "$import" "$untar")"
echo
echo "target: ckube run at most half of crun run ($half_crun ms): $met"
echo "runs: $runs starts, $slow_runs pulls and imports; ckube's containers load the RuntimeDefault"
echo "seccomp profile, crun's default spec has none. Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
