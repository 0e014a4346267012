#!/bin/sh
# Installs, with apt-get, everything ckube needs to build, test and benchmark on Debian 12.
# Idempotent: it only asks apt-get for packages that are missing, so running it again is cheap.
# The Makefile calls it before `make run` and `make test`; it needs root when something is
# missing.
set -eu

# Build: compiler, pkg-config and the libraries ckube links against (see the top README for why
# each one was chosen). The last line are the libraries ckube opens with dlopen() on first use:
# the -dev packages pull them in, but no DT_NEEDED entry in the binary records them, so they are
# named here.
build_pkgs="gcc libc6-dev clang make pkg-config
  libmicrohttpd-dev libgnutls28-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev libyaml-dev
  libarchive-dev
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libseccomp-dev libcap-dev
  libnetfilter-conntrack-dev
  libcmocka-dev
  libmicrohttpd12 libgnutls30 libsqlite3-0 libcurl3-gnutls libarchive13 libnetfilter-conntrack3"
# Tests: the official Python client, pytest, and what the tests use to drive the server.
test_pkgs="python3 python3-kubernetes python3-pytest curl iproute2 procps
  docker-registry skopeo busybox-static nftables"
# VM tests (tests/vm/): qemu (TCG), xz for the kernel's payload, and the libraries of the NFS
# server tools that scripts/vm-image.sh unpacks from nfs-kernel-server without installing it.
vm_pkgs="qemu-system-x86 xz-utils libwrap0 libtirpc3 libnsl2"
# Benchmarks: public load and timing tools.
bench_pkgs="wrk hyperfine crun jq containernetworking-plugins"
# Lint: the formatter `make lint` runs.
lint_pkgs="clang-format"

want="$build_pkgs $test_pkgs $vm_pkgs $bench_pkgs $lint_pkgs"
case "${1:-all}" in
build) want="$build_pkgs" ;;
all) ;;
*) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

missing=""
for pkg in $want; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $pkg"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || echo "deps: apt-get update failed; trying with the cached package lists" >&2
	# shellcheck disable=SC2086 # the package list is meant to split into words
	apt-get install -y -qq --no-install-recommends $missing
fi

# kubectl: the tests drive the real one. Install Debian's kubernetes-client (kubectl 1.20) only
# when the machine has no kubectl at all; never over an existing /usr/bin/kubectl. Where another
# kubectl owns that path, unpack 1.20 beside the project so the tests can still check the legacy
# discovery path it uses.
if [ "${1:-all}" = all ]; then
	if [ ! -e /usr/bin/kubectl ]; then
		apt-get install -y -qq --no-install-recommends kubernetes-client
	elif ! dpkg-query -W -f='${db:Status-Status}' kubernetes-client 2>/dev/null | grep -q installed; then
		tools="${CKUBE_TOOLS_DIR:-/var/cache/ckube-tools}"
		if [ ! -x "$tools/kubectl-1.20/usr/bin/kubectl" ]; then
			mkdir -p "$tools"
			tmp=$(mktemp -d)
			if (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1); then
				dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tools/kubectl-1.20"
				echo "deps: unpacked kubectl 1.20 into $tools/kubectl-1.20"
			else
				echo "deps: could not download kubernetes-client; tests will skip kubectl 1.20" >&2
			fi
			rm -rf "$tmp"
		fi
	fi
fi
