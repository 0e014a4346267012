#!/bin/sh
# A local image registry for tests and the demo: Debian's docker-registry on 127.0.0.1, filled
# from the OCI layout that scripts/test-images.sh builds. Nothing here talks to the internet.
#
#   scripts/registry.sh start DIR            start a registry that keeps everything under DIR
#                                            (created); prints its address, 127.0.0.1:PORT
#   scripts/registry.sh push IMAGES ADDRESS [NAME...]
#                                            push the images built into IMAGES (test-images.sh's
#                                            output directory, or an OCI layout) as NAME:1 and
#                                            NAME:latest, and again as library/NAME:1 and
#                                            library/NAME:latest so that a docker.io mirror
#                                            resolves plain `image: NAME`; NAME:1-docker (and
#                                            library/) is the same image in Docker's schema 2
#                                            (not for image indexes)
#   scripts/registry.sh stop DIR             stop the registry started with DIR and remove DIR
#
# The port is whatever the kernel gives (the registry binds 127.0.0.1:0 and logs the port), so
# several registries can run side by side. Environment: REGISTRY_TIMEOUT (seconds to wait for
# /v2/, default 15), REGISTRY_BIN (default /usr/bin/docker-registry).
set -eu

registry_bin=${REGISTRY_BIN:-/usr/bin/docker-registry}
timeout=${REGISTRY_TIMEOUT:-15}
# Written into DIR by start; stop removes only directories that carry it.
marker=ckube-registry
index_type=application/vnd.oci.image.index.v1+json

die() {
	echo "registry: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start DIR | push IMAGES ADDRESS [NAME...] | stop DIR" >&2
	exit 2
}

# alive PID CONFIG: true when PID is a running docker-registry serving CONFIG. A zombie counts as
# gone, and so does a recycled pid that now belongs to another program.
# running PID: the process exists and has not exited.
running() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1) || return 1
	[ "$state" != Z ]
}

# alive PID CONFIG: PID is a running registry serving CONFIG (a pid file may be stale).
alive() {
	running "$1" || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF "$2"
}

cmd_start() {
	dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	config=$dir/config.yml
	if [ -f "$dir/pid" ] && [ -f "$dir/address" ] && alive "$(cat "$dir/pid")" "$config"; then
		cat "$dir/address"
		return 0
	fi
	[ -x "$registry_bin" ] || die "$registry_bin is missing (install docker-registry: scripts/deps.sh)"
	: >"$dir/$marker"
	mkdir -p "$dir/storage"
	rm -f "$dir/address" "$dir/pid"
	# Uploads of one registry process need a shared secret only behind a load balancer; a fixed
	# random one just keeps the warning out of the log.
	secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	cat >"$config" <<-EOF
		version: 0.1
		log:
		  level: info
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $dir/storage
		  delete:
		    enabled: true
		  maintenance:
		    uploadpurging:
		      enabled: false
		http:
		  addr: 127.0.0.1:0
		  secret: $secret
	EOF
	# stdin, stdout and stderr away from the caller's, so that a caller reading our output to
	# the end (a test's subprocess.run) is not held open by the registry.
	"$registry_bin" serve "$config" </dev/null >"$dir/registry.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pid"
	address=""
	deadline=$(($(date +%s) + timeout))
	while :; do
		# Not `alive`: until the child has exec'd docker-registry its command line is still
		# this script's, and that is no reason to give up.
		if ! running "$pid"; then
			die "docker-registry exited; its log:
$(cat "$dir/registry.log")"
		fi
		if [ -z "$address" ]; then
			address=$(sed -n 's/.*msg="listening on \(127\.0\.0\.1:[0-9][0-9]*\)".*/\1/p' \
				"$dir/registry.log" | head -n 1)
		fi
		if [ -n "$address" ] &&
			curl -fsS -o /dev/null -m 2 "http://$address/v2/" 2>/dev/null; then
			break
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill "$pid" 2>/dev/null || true
			die "docker-registry did not answer on /v2/ within ${timeout}s; its log:
$(cat "$dir/registry.log")"
		fi
		sleep 0.05
	done
	echo "$address" >"$dir/address"
	echo "$address"
}

cmd_push() {
	images=$1
	address=$2
	shift 2
	if [ -f "$images/oci/index.json" ]; then
		layout=$images/oci
	elif [ -f "$images/index.json" ]; then
		layout=$images
	else
		die "$images holds no OCI layout (run scripts/test-images.sh)"
	fi
	if [ $# -eq 0 ]; then
		# The layout's ref names, from the index that test-images.sh writes one entry a line.
		names=$(sed -n 's/.*"org\.opencontainers\.image\.ref\.name":"\([^"]*\)".*/\1/p' \
			"$layout/index.json")
		# shellcheck disable=SC2086 # one name a word
		set -- $names
	fi
	[ $# -gt 0 ] || die "$layout names no images"
	# skopeo's temporary files and its blob-info cache go to a directory of our own, removed
	# afterwards, so a push leaves nothing on the machine.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 1' INT TERM HUP
	for name in "$@"; do
		for dest in "$name:1" "$name:latest" "library/$name:1" "library/$name:latest" \
			"$name:1-docker" "library/$name:1-docker"; do
			case $dest in
			*:1-docker)
				# Docker's schema 2 as well: what most images on docker.io still are.
				# Image indexes stay OCI only.
				grep -q "\"$index_type\".*\"org.opencontainers.image.ref.name\":\"$name\"" \
					"$layout/index.json" && continue
				format="--format v2s2"
				;;
			*) format="--preserve-digests" ;;
			esac
			# The blob-info cache goes where an unprivileged user's would (XDG_DATA_HOME,
			# i.e. $tmp), since skopeo keeps root's in /var/lib/containers/cache.
			# shellcheck disable=SC2086 # $format is one or two words
			XDG_DATA_HOME=$tmp/data _CONTAINERS_ROOTLESS_UID=65534 TMPDIR=$tmp \
				skopeo --insecure-policy --tmpdir "$tmp" copy --quiet --all $format \
				--dest-tls-verify=false "oci:$layout:$name" "docker://$address/$dest" ||
				die "push of $name to $address/$dest failed"
		done
		echo "$address/$name:1"
	done
	rm -rf "$tmp"
	trap - EXIT INT TERM HUP
}

cmd_stop() {
	dir=$1
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/$marker" ] || die "$dir was not made by '$0 start'; not touching it"
	config=$dir/config.yml
	if [ -f "$dir/pid" ]; then
		pid=$(cat "$dir/pid")
		if alive "$pid" "$config"; then
			kill -TERM "$pid" 2>/dev/null || true
			tries=0
			while alive "$pid" "$config"; do
				tries=$((tries + 1))
				# Ten seconds of grace, then no more.
				if [ "$tries" -eq 200 ]; then
					kill -KILL "$pid" 2>/dev/null || true
				elif [ "$tries" -gt 400 ]; then
					die "docker-registry (pid $pid) does not go away"
				fi
				sleep 0.05
			done
		fi
	fi
	rm -rf "$dir"
}

[ $# -ge 2 ] || usage
command=$1
shift
case $command in
start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
push) [ $# -ge 2 ] || usage; cmd_push "$@" ;;
stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
*) usage ;;
esac
