#!/bin/sh
# Builds the container images the tests and the demo run, from Debian packages only (nothing is
# downloaded), into one OCI image layout that scripts/registry.sh pushes to a local registry.
#
#   scripts/test-images.sh [OUT]        OUT defaults to build/test-images beside this script
#
# OUT/oci          the OCI layout: oci-layout, index.json, blobs/sha256/* (one ref per image,
#                  named by org.opencontainers.image.ref.name = the image name)
# OUT/images.txt   "NAME DIGEST" per image: what registry.sh pushes and tests look up
# OUT/ckube-testbin  the static test helper, also handy to run on the host
#
# Images (IMAGES="busybox httpd" builds a subset; multiarch needs busybox):
#   busybox    busybox-static with every applet link; Cmd sh
#   httpd      busybox httpd serving /www (index.html, healthz) on port 80 as its entrypoint
#   testbin    ckube-testbin as entrypoint (Cmd sleep infinity, StopSignal SIGINT) over the
#              busybox layer; its second layer removes /usr/bin/wget (a whiteout) and replaces /etc/ckube (an
#              opaque directory), so `ls /etc/ckube` shows only "testbin"
#   nonroot    the testbin layers with User "app" (uid 1000, gid 1000, also in group users/100)
#   multiarch  an image index: busybox as linux/amd64 plus a linux/arm64 entry with the same
#              layers (only there to check that a pull picks the machine's platform)
#
# Idempotent: layers are reproducible tar files (sorted names, fixed times and owners, gzip -n),
# so a rebuild gives the same digests, and nothing is rebuilt when no input changed.
# Environment: CC (default gcc), BUSYBOX (default /bin/busybox from busybox-static),
# SOURCE_DATE_EPOCH (file and config times, default 2024-01-01).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/build/test-images}
images=${IMAGES:-busybox httpd testbin nonroot multiarch}
cc=${CC:-gcc}
busybox=${BUSYBOX:-/bin/busybox}
testbin_src=$root/tests/testbin/ckube-testbin.c
epoch=${SOURCE_DATE_EPOCH:-1704067200}
path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() {
	echo "test-images: $*" >&2
	exit 1
}

for name in $images; do
	case $name in
	busybox | httpd | testbin | nonroot | multiarch) ;;
	*) die "unknown image \"$name\" (busybox, httpd, testbin, nonroot, multiarch)" ;;
	esac
done
[ -x "$busybox" ] || die "$busybox is missing (install busybox-static: scripts/deps.sh)"
# A dynamically linked busybox would not run in an image without libraries.
if [ "$busybox" = /bin/busybox ]; then
	dpkg-query -S /bin/busybox 2>/dev/null | grep -q '^busybox-static:' ||
		die "/bin/busybox does not come from busybox-static"
fi
[ -r "$testbin_src" ] || die "$testbin_src is missing"
# The layers carry root-owned files and a home owned by uid 1000, staged as real owners.
[ "$(id -u)" -eq 0 ] || die "run as root: the layers' file owners are staged with chown"
case $(dpkg --print-architecture) in
amd64) arch=amd64 ;;
arm64) arch=arm64 ;;
i386) arch=386 ;;
*) arch=$(dpkg --print-architecture) ;;
esac
umask 022
mkdir -p "$out"

# One build at a time per output directory: pytest sessions may start side by side.
exec 9>"$out/.lock"
flock 9

# Everything that decides the result, hashed: when it matches the last build, we are done.
key=$({
	sha256sum "$0" "$testbin_src" "$busybox"
	"$cc" --version | head -n 1
	echo "$images $arch $epoch"
} | sha256sum | cut -d ' ' -f 1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$key" ] && [ -f "$out/oci/index.json" ] &&
	[ -f "$out/images.txt" ]; then
	echo "test-images: $out is up to date"
	exit 0
fi

work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
layout=$work/oci
mkdir -p "$layout/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# add_blob FILE: moves FILE into the layout under its digest; sets blob_digest, blob_size.
add_blob() {
	blob_size=$(stat -c %s "$1")
	blob_hex=$(sha256sum "$1" | cut -d ' ' -f 1)
	blob_digest=sha256:$blob_hex
	mv -f "$1" "$layout/blobs/sha256/$blob_hex"
}

# make_layer DIR: a reproducible tar.gz of DIR's contents as the layout's next blob; sets
# layer_digest, layer_size and layer_diff_id (the digest of the uncompressed tar).
make_layer() {
	# ustar with names sorted in the C locale, numeric owners as staged, one fixed mtime.
	(cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		tar --create --file=- --no-recursion --verbatim-files-from --files-from=- \
			--format=ustar --numeric-owner --mtime="@$epoch") >"$work/layer.tar"
	layer_diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d ' ' -f 1)
	gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
	rm -f "$work/layer.tar"
	add_blob "$work/layer.tar.gz"
	layer_digest=$blob_digest
	layer_size=$blob_size
}

# The base layer: busybox, its applet links, users and the usual directories.
stage_base() {
	dir=$work/base
	mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin" "$dir/etc/ckube" \
		"$dir/dev" "$dir/proc" "$dir/sys" "$dir/run" "$dir/var/log" "$dir/root" \
		"$dir/home/app" "$dir/tmp"
	cp "$busybox" "$dir/bin/busybox"
	chmod 0755 "$dir/bin/busybox"
	"$busybox" --list-full | while IFS= read -r applet; do
		if [ -z "$applet" ] || [ "$applet" = bin/busybox ]; then
			continue
		fi
		mkdir -p "$dir/$(dirname "$applet")"
		ln -sf /bin/busybox "$dir/$applet"
	done
	[ -L "$dir/bin/sh" ] || die "busybox has no sh applet"
	cat >"$dir/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		app:x:1000:1000:ckube test user:/home/app:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$dir/etc/group" <<-'EOF'
		root:x:0:
		users:x:100:app
		app:x:1000:
		nogroup:x:65534:
	EOF
	printf 'base\n' >"$dir/etc/ckube/base"
	chmod 0644 "$dir/etc/passwd" "$dir/etc/group" "$dir/etc/ckube/base"
	chmod 0700 "$dir/root"
	chmod 1777 "$dir/tmp"
	chown -R 0:0 "$dir"
	chown 1000:1000 "$dir/home/app"
	make_layer "$dir"
	base_layer="$layer_digest $layer_size $layer_diff_id"
}

# httpd's content layer.
stage_www() {
	dir=$work/www
	mkdir -p "$dir/www"
	cat >"$dir/www/index.html" <<-'EOF'
		<!DOCTYPE html>
		<html><head><title>ckube test httpd</title></head>
		<body><h1>ckube test httpd</h1><p>served by busybox httpd</p></body></html>
	EOF
	printf 'ok\n' >"$dir/www/healthz"
	chmod 0644 "$dir/www/index.html" "$dir/www/healthz"
	chown -R 0:0 "$dir"
	make_layer "$dir"
	www_layer="$layer_digest $layer_size $layer_diff_id"
}

# testbin's layer over the base: the helper, a whiteout and an opaque directory.
stage_testbin() {
	dir=$work/testbin
	mkdir -p "$dir/usr/bin" "$dir/etc/ckube"
	"$cc" -std=gnu11 -static -O2 -s -Wall -Wextra -Werror -o "$work/ckube-testbin" "$testbin_src"
	cp "$work/ckube-testbin" "$dir/usr/bin/ckube-testbin"
	chmod 0755 "$dir/usr/bin/ckube-testbin"
	# Whiteouts as the OCI layer format writes them: .wh.NAME deletes NAME of the layers below,
	# .wh..wh..opq hides everything the layers below have in that directory.
	: >"$dir/usr/bin/.wh.wget"
	: >"$dir/etc/ckube/.wh..wh..opq"
	printf 'testbin\n' >"$dir/etc/ckube/testbin"
	chmod 0644 "$dir/usr/bin/.wh.wget" "$dir/etc/ckube/.wh..wh..opq" "$dir/etc/ckube/testbin"
	chown -R 0:0 "$dir"
	make_layer "$dir"
	testbin_layer="$layer_digest $layer_size $layer_diff_id"
}

# write_image NAME ARCH CONFIG LAYER...: the config and manifest blobs of one image, where
# CONFIG is the JSON members of the config's "config" object and each LAYER is
# "digest size diff_id". Sets manifest_digest and manifest_size.
write_image() {
	img_name=$1
	img_arch=$2
	img_config=$3
	shift 3
	diff_ids=""
	history=""
	layers=""
	for layer in "$@"; do
		# shellcheck disable=SC2086 # a layer is three words by construction
		set -- $layer
		diff_ids="$diff_ids${diff_ids:+,}\"$3\""
		history="$history${history:+,}{\"created\":\"$created\",\"created_by\":\"scripts/test-images.sh $img_name\"}"
		layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$1\",\"size\":$2}"
	done
	printf '{"created":"%s","architecture":"%s","os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
		"$created" "$img_arch" "$img_config" "$diff_ids" "$history" >"$work/config.json"
	add_blob "$work/config.json"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$blob_digest" "$blob_size" "$layers" >"$work/manifest.json"
	add_blob "$work/manifest.json"
	manifest_digest=$blob_digest
	manifest_size=$blob_size
}

# The layout's index: one entry (line) per image, found by its ref name.
index_entries=""
list=""
add_ref() { # NAME MEDIATYPE DIGEST SIZE PLATFORM_JSON
	ref_platform=""
	[ -z "$5" ] || ref_platform=",\"platform\":$5"
	index_entries="$index_entries${index_entries:+,
}{\"mediaType\":\"$2\",\"digest\":\"$3\",\"size\":$4$ref_platform,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$1\"}}"
	list="$list$1 $3
"
}
manifest_type=application/vnd.oci.image.manifest.v1+json
index_type=application/vnd.oci.image.index.v1+json
platform="{\"architecture\":\"$arch\",\"os\":\"linux\"}"

stage_base
case " $images " in *" httpd "*) stage_www ;; esac
case " $images " in *" testbin "* | *" nonroot "*) stage_testbin ;; esac
busybox_manifest=""
for name in $images; do
	case $name in
	busybox)
		write_image busybox "$arch" "\"Env\":[\"$path_env\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/\"" \
			"$base_layer"
		busybox_manifest="$manifest_digest $manifest_size"
		;;
	httpd)
		write_image httpd "$arch" "\"Env\":[\"$path_env\"],\"Entrypoint\":[\"/bin/busybox\",\"httpd\",\"-f\",\"-v\",\"-p\",\"80\",\"-h\",\"/www\"],\"ExposedPorts\":{\"80/tcp\":{}},\"WorkingDir\":\"/www\"" \
			"$base_layer" "$www_layer"
		;;
	testbin)
		write_image testbin "$arch" "\"Env\":[\"$path_env\",\"CKUBE_IMAGE=testbin\"],\"Entrypoint\":[\"/usr/bin/ckube-testbin\"],\"Cmd\":[\"sleep\",\"infinity\"],\"WorkingDir\":\"/\",\"StopSignal\":\"SIGINT\"" \
			"$base_layer" "$testbin_layer"
		;;
	nonroot)
		write_image nonroot "$arch" "\"User\":\"app\",\"Env\":[\"$path_env\",\"CKUBE_IMAGE=nonroot\"],\"Entrypoint\":[\"/usr/bin/ckube-testbin\"],\"Cmd\":[\"sleep\",\"infinity\"],\"WorkingDir\":\"/home/app\"" \
			"$base_layer" "$testbin_layer"
		;;
	multiarch)
		[ -n "$busybox_manifest" ] || die "multiarch needs busybox listed before it in IMAGES"
		other=arm64
		[ "$arch" != arm64 ] || other=amd64
		write_image multiarch "$other" "\"Env\":[\"$path_env\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/\"" \
			"$base_layer"
		# shellcheck disable=SC2086 # digest and size
		set -- $busybox_manifest
		printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":%s},{"mediaType":"%s","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}]}' \
			"$index_type" "$manifest_type" "$1" "$2" "$platform" "$manifest_type" \
			"$manifest_digest" "$manifest_size" "$other" >"$work/index.json"
		add_blob "$work/index.json"
		add_ref multiarch "$index_type" "$blob_digest" "$blob_size" ""
		continue
		;;
	esac
	add_ref "$name" "$manifest_type" "$manifest_digest" "$manifest_size" "$platform"
done
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[\n%s\n]}\n' "$index_type" \
	"$index_entries" >"$layout/index.json"

# Swap the new build in; a reader of the old layout (a push in progress) holds no lock, so the
# old one goes only after the new one is complete.
rm -rf "$out/oci.old"
[ ! -d "$out/oci" ] || mv "$out/oci" "$out/oci.old"
mv "$layout" "$out/oci"
rm -rf "$out/oci.old"
[ ! -f "$work/ckube-testbin" ] || mv -f "$work/ckube-testbin" "$out/ckube-testbin"
printf '%s' "$list" >"$out/images.txt"
printf '%s\n' "$key" >"$out/stamp"
echo "test-images: built $images into $out/oci ($(du -sh "$out/oci" | cut -f 1))"
