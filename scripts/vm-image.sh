#!/bin/sh
# Builds the bootable system of the VM test tier (tests/vm/) from Debian packages only: the
# Debian kernel, busybox-static and dash, the NFS server tools, the project's ckube with every
# library it links or opens, the test images and the guest side of tests/vm/.
#
#   scripts/vm-image.sh [OUT]       OUT defaults to build/vm beside this script
#
# OUT/vmlinux   the kernel as an uncompressed ELF (qemu boots it through its PVH entry, which
#               under TCG is about 2 s faster than letting the bzImage decompress itself)
# OUT/initrd    one uncompressed newc cpio: the whole guest file system, /init included
# OUT/stamp     the hash of every input of the last build
# OUT/debs/     the downloaded packages, kept: a rebuild downloads nothing that is there
#
# Packages are fetched with `apt-get download` and unpacked with dpkg-deb: nothing is installed
# on this machine. The kernel is the package linux-image-amd64 depends on; the modules the
# guest loads (and what they depend on) go in, plus the netfilter and bridge folders for loading
# on demand, with a modules.dep from `busybox depmod`.
# Rebuilt when anything that goes in changes (ckube, its libraries, tests/vm/, this script, the
# packages, the test images); otherwise it returns at once.
# Environment: CKUBE_BIN (default build/ckube beside this script), BUSYBOX (/bin/busybox).
# Needs root (scripts/test-images.sh stages file owners).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/build/vm}
ckube=${CKUBE_BIN:-$root/build/ckube}
busybox=${BUSYBOX:-/bin/busybox}
guest_src=$root/tests/vm

# The modules the guest loads at boot (modprobe adds what they depend on). crc32c_generic
# first: libcrc32c (under nfsd and nf_tables' users) only names it as a soft dependency.
# virtio: the NIC; veth, bridge, br_netfilter: the pod network (netns/); overlay: container
# roots; nf_*/nft_*: the Service proxy and masquerade (iptables/, netns/masquerade.c), in the
# ip family and in inet; nf_conntrack_netlink: flows removed with their endpoints
# (lib/conntrack_dl.c); nfs, nfsv4, nfsd: NFS volumes and the NFS server VM.
modules="crc32c_generic virtio_pci virtio_net veth bridge br_netfilter overlay
  nf_tables nf_conntrack nf_nat nft_chain_nat nft_nat nft_ct nft_masq nft_numgen nft_hash
  nft_fib_inet nft_fib_ipv4 nft_reject_inet nft_reject_ipv4 nft_socket nf_conntrack_netlink
  nfs nfsv4 nfsd"
# Every module of these folders is there too, for the kernel to load on demand (through
# modprobe and modules.alias) should ckube use an expression the list above does not name.
module_dirs="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter
  kernel/net/bridge"
# The libraries ckube opens with dlopen() (their sonames, as lib/*_dl.c and
# runtime/archive_dl.c name them): no DT_NEEDED entry records them, so ldd alone misses them.
dlopen_sonames="libsqlite3.so.0 libmicrohttpd.so.12 libgnutls.so.30 libcurl-gnutls.so.4
  libarchive.so.13 libnetfilter_conntrack.so.3"
# The NFSv4 server: rpc.nfsd starts the kernel's nfsd, exportfs fills its export table and
# rpc.mountd answers the kernel's export lookups (NFSv4 needs no rpcbind, statd or lockd).
nfs_tools="usr/sbin/rpc.nfsd usr/sbin/exportfs usr/sbin/rpc.mountd"
# The test images the guests import (scripts/test-images.sh names), named NAME:vm there.
vm_images="busybox httpd testbin"

die() {
	echo "vm-image: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (scripts/test-images.sh stages file owners)"
[ -x "$ckube" ] || die "$ckube is missing: build it first (make)"
[ -x "$busybox" ] || die "$busybox is missing (scripts/deps.sh installs busybox-static)"
[ -x /bin/dash ] || die "/bin/dash is missing"
for tool in apt-get apt-cache dpkg-deb xz ldd ldconfig sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh installs it)"
done
[ -f "$guest_src/init" ] || die "$guest_src/init is missing"

umask 022
mkdir -p "$out/debs"
exec 9>"$out/.lock"
flock 9

# --- packages --------------------------------------------------------------------------------

# candidate PKG: the version apt-get would download (the package lists are refreshed once if
# they do not know PKG).
candidate() {
	v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		apt-get update -qq >&2 || true
		v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	fi
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		die "no package $1 in the package lists"
	fi
	echo "$v"
}

# deb_file PKG VERSION: where apt-get download puts it (the epoch's colon escaped).
deb_file() {
	echo "$out/debs/$1_$(echo "$2" | sed 's/:/%3a/')_$(dpkg --print-architecture).deb"
}

# download PKG VERSION: into OUT/debs (as root, into a directory the _apt sandbox user cannot
# write: said, so that apt does not warn).
download() {
	(cd "$out/debs" && apt-get download -qq -o APT::Sandbox::User=root "$1=$2") >&2 &&
		[ -f "$(deb_file "$1" "$2")" ]
}

# deb PKG: the path of PKG's .deb in OUT/debs, downloaded unless already there. Package lists
# older than the mirror name files it no longer has: they are refreshed once.
deb() {
	version=$(candidate "$1")
	if [ ! -f "$(deb_file "$1" "$version")" ] && ! download "$1" "$version"; then
		apt-get update -qq >&2 || true
		version=$(candidate "$1")
		download "$1" "$version" || die "apt-get download $1 failed"
	fi
	keep=$(deb_file "$1" "$version")
	for old in "$out/debs/$1"_*.deb; do
		[ "$old" = "$keep" ] || rm -f "$old"
	done
	echo "$keep"
}

# The image metapackage depends on the versioned kernel package of the day.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel_pkg" ]; then
	apt-get update -qq >&2 || true
	kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$kernel_pkg" ] || die "linux-image-amd64 names no kernel package"
kernel_deb=$(deb "$kernel_pkg")
nfs_deb=$(deb nfs-kernel-server)
kver=${kernel_pkg#linux-image-}

# --- inputs and the stamp --------------------------------------------------------------------

# libs_of FILE...: the shared libraries FILEs load (ldd), one path a line; dies on a missing one.
libs_of() {
	for f in "$@"; do
		ldd "$f" 2>/dev/null | awk -v f="$f" '
			/=> not found/ { print "MISSING " $1 " (for " f ")"; next }
			/=> \// { print $3; next }
			/^[ \t]*\// { print $1 }'
	done | sort -u
}

# find_soname NAME: where the dynamic loader finds NAME on this machine.
find_soname() {
	ldconfig -p | awk -v n="$1" '$1 == n && /x86-64|x86_64/ { print $NF; exit }'
}

# Only the tools: the package's other folders (init.d, rules.d) would look like dependency
# files to the Makefile, which includes every *.d under the build directory.
nfs_dir=$out/nfs-tools
if [ ! -f "$nfs_dir/.from" ] || [ "$(cat "$nfs_dir/.from")" != "$nfs_deb" ]; then
	rm -rf "$nfs_dir"
	mkdir -p "$nfs_dir"
	# shellcheck disable=SC2046,SC2086 # one member a word
	dpkg-deb --fsys-tarfile "$nfs_deb" | tar -x -C "$nfs_dir" $(printf './%s ' $nfs_tools)
	echo "$nfs_deb" >"$nfs_dir/.from"
fi

dlopened=""
for soname in $dlopen_sonames; do
	path=$(find_soname "$soname")
	[ -n "$path" ] || die "$soname is missing (scripts/deps.sh installs it)"
	dlopened="$dlopened $path"
done
nfs_bins=""
for tool in $nfs_tools; do
	nfs_bins="$nfs_bins $nfs_dir/$tool"
done
# shellcheck disable=SC2086 # the lists are meant to split into words
found=$(libs_of "$ckube" /bin/dash $dlopened $nfs_bins)
missing=$(echo "$found" | grep '^MISSING' || true)
[ -z "$missing" ] || die "libraries not found on this machine (scripts/deps.sh installs them):
$missing"
# shellcheck disable=SC2086
libs=$(printf '%s\n' $found $dlopened | sort -u)

images_dir=$(dirname "$out")/test-images
"$here/test-images.sh" "$images_dir" >&2

# Everything that decides the result, hashed: when it matches the last build, we are done.
# shellcheck disable=SC2086
key=$({
	# Contents, not names: the script run as scripts/x or as /abs/scripts/x is the same.
	sha256sum "$0" "$ckube" "$busybox" /bin/dash $libs "$images_dir/stamp" "$guest_src/init" \
		"$guest_src/lib.sh" "$guest_src"/test_*.sh | cut -d ' ' -f 1
	echo "${kernel_deb##*/} ${nfs_deb##*/} $modules $vm_images" $libs
} | sha256sum | cut -d ' ' -f 1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] && [ -f "$out/initrd" ] &&
	[ -f "$out/vmlinux" ]; then
	echo "vm-image: $out is up to date"
	exit 0
fi
echo "vm-image: building $out ($kernel_pkg, $(basename "$ckube") $(stat -c %s "$ckube") bytes)"
rm -f "$out/stamp"

rm -rf "$out"/work.* # what a killed build left
work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
rootfs=$work/root

# --- kernel and modules ----------------------------------------------------------------------

# The kernel package, unpacked once per version: the kernel, and the module folders where the
# modules above and their dependencies live (the whole tree is 400 MB).
module_trees="kernel/net kernel/fs kernel/drivers/net kernel/drivers/virtio kernel/lib
  kernel/crypto"
kernel_dir=$out/kernel-$kver
for old in "$out"/kernel-*; do
	[ "$old" = "$kernel_dir" ] || rm -rf "$old"
done
if [ ! -f "$kernel_dir/.done" ]; then
	rm -rf "$kernel_dir"
	mkdir -p "$kernel_dir"
	# shellcheck disable=SC2046,SC2086 # one member pattern a word
	dpkg-deb --fsys-tarfile "$kernel_deb" |
		tar -x -C "$kernel_dir" --wildcards './boot/vmlinuz-*' './lib/modules/*/modules.*' \
			$(printf "./lib/modules/$kver/%s/* " $module_trees)
	touch "$kernel_dir/.done"
fi
moddir=$kernel_dir/lib/modules/$kver

# vmlinuz is a bzImage around an xz stream: the ELF kernel is that stream's content.
vmlinuz=$kernel_dir/boot/vmlinuz-$kver
offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d : -f 1)
[ -n "$offset" ] || die "no xz stream in $vmlinuz"
tail -c "+$((offset + 1))" "$vmlinuz" | xz -dc --single-stream >"$work/vmlinux"
[ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
	die "$vmlinuz: its xz stream is not an ELF kernel"

# module_path NAME: the module's path under the module tree (names may spell _ as -).
module_path() {
	dashed=$(echo "$1" | tr _ -)
	grep -E "/($1|$dashed)\.ko$" "$moddir/modules.order" | head -n 1
}

# add_module NAME: the module and what it depends on (the .ko's depends= field, followed), in
# the guest's module tree.
added=" "
add_module() {
	case $added in *" $1 "*) return 0 ;; esac
	added="$added$1 "
	path=$(module_path "$1")
	[ -n "$path" ] || die "kernel $kver has no module $1"
	[ -f "$moddir/$path" ] || die "module $1 is in $path: add its folder to module_trees"
	mkdir -p "$rootfs/lib/modules/$kver/$(dirname "$path")"
	cp "$moddir/$path" "$rootfs/lib/modules/$kver/$path"
	for dep in $(tr '\0' '\n' <"$moddir/$path" | sed -n 's/^depends=//p' | head -n 1 | tr , ' '); do
		add_module "$dep"
	done
}

# --- the guest's file system -----------------------------------------------------------------

# Debian's merged /usr: library paths from ldd then land where the loader looks.
mkdir -p "$rootfs/usr/bin" "$rootfs/usr/sbin" "$rootfs/usr/lib" "$rootfs/usr/lib64"
for d in bin sbin lib lib64; do
	ln -s "usr/$d" "$rootfs/$d"
done
for m in $modules; do
	add_module "$m"
done
for d in $module_dirs; do
	for ko in "$moddir/$d"/*.ko; do
		add_module "$(basename "$ko" .ko)"
	done
done
cp "$moddir/modules.order" "$moddir/modules.builtin" "$rootfs/lib/modules/$kver/"
"$busybox" depmod -b "$rootfs" "$kver"
# shellcheck disable=SC2086 # one module a line
printf '%s\n' $modules >"$rootfs/lib/modules/load-order"

# busybox for everything, dash as /bin/sh (busybox's sh would run its own applets, such as
# `ip`, ahead of PATH).
cp "$busybox" "$rootfs/usr/bin/busybox"
"$busybox" --list | while IFS= read -r applet; do
	[ -e "$rootfs/usr/bin/$applet" ] || ln -s busybox "$rootfs/usr/bin/$applet"
done
# The kernel runs /sbin/modprobe for modules loaded on demand.
ln -s ../bin/busybox "$rootfs/usr/sbin/modprobe"
cp /bin/dash "$rootfs/usr/bin/dash"
ln -sf dash "$rootfs/usr/bin/sh"

# copy_file PATH: PATH (a symlink's target's content) at the same path inside the guest.
copy_file() {
	mkdir -p "$rootfs$(dirname "$1")"
	cp -L "$1" "$rootfs$1"
}
for lib in $libs; do
	copy_file "$lib"
done
# The loader's cache, for the libraries ckube opens by soname; its configuration as one file
# (no ld.so.conf.d: see nfs_dir above).
mkdir -p "$rootfs/etc"
cat /etc/ld.so.conf.d/*.conf >"$rootfs/etc/ld.so.conf" 2>/dev/null || true
ldconfig -r "$rootfs"

cp "$ckube" "$rootfs/usr/bin/ckube"
for tool in $nfs_tools; do
	cp "$nfs_dir/$tool" "$rootfs/$tool"
done
# rpc.mountd and exportfs look up services and transports there.
cp /etc/services /etc/netconfig "$rootfs/etc/"
mkdir -p "$rootfs/var/lib/nfs/v4recovery"
touch "$rootfs/var/lib/nfs/etab" "$rootfs/var/lib/nfs/rmtab"

cat >"$rootfs/etc/passwd" <<-'EOF'
	root:x:0:0:root:/root:/bin/sh
	nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<-'EOF'
	root:x:0:
	nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$rootfs/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"
cp /etc/os-release "$rootfs/etc/os-release"

# The test images as one OCI layout archive whose index names each image NAME:vm (the
# layout from test-images.sh names them by a bare ref, which names no repository).
mkdir -p "$work/images/blobs" "$rootfs/images"
cp -r "$images_dir/oci/blobs/sha256" "$work/images/blobs/"
cp "$images_dir/oci/oci-layout" "$work/images/"
{
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
	sep=""
	for name in $vm_images; do
		entry=$(grep "\"org.opencontainers.image.ref.name\":\"$name\"" "$images_dir/oci/index.json" |
			sed 's/,$//')
		[ -n "$entry" ] || die "image $name is not in $images_dir/oci/index.json"
		printf '%s%s' "$sep" "$(echo "$entry" |
			sed "s/\"org.opencontainers.image.ref.name\":\"$name\"/\"org.opencontainers.image.ref.name\":\"$name:vm\"/")"
		sep=,
	done
	printf ']}\n'
} >"$work/images/index.json"
tar -C "$work/images" -cf "$rootfs/images/test-images.tar" oci-layout index.json blobs

# The guest side: /init and the tests.
cp "$guest_src/init" "$rootfs/init"
chmod 0755 "$rootfs/init"
mkdir -p "$rootfs/tests"
cp "$guest_src"/lib.sh "$guest_src"/test_*.sh "$rootfs/tests/"
chmod 0755 "$rootfs/tests/"*.sh
mkdir -p "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/run" "$rootfs/tmp" \
	"$rootfs/var/lib" "$rootfs/var/log" "$rootfs/root" "$rootfs/mnt"
chmod 1777 "$rootfs/tmp"

(cd "$rootfs" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) \
	>"$work/initrd"
mv -f "$work/vmlinux" "$out/vmlinux"
mv -f "$work/initrd" "$out/initrd"
echo "$key" >"$out/stamp"
echo "vm-image: $out/vmlinux, $out/initrd ($(($(stat -c %s "$out/initrd") / 1048576)) MiB)"
