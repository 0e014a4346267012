"""The local registry and the test images (scripts/test-images.sh, scripts/registry.sh): what
the registry serves is what was built, byte for byte and digest for digest, the images are what
the container tests expect (entrypoints, users, whiteouts) and actually run, and stopping the
registry leaves nothing behind."""
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import tarfile
import tempfile
import time

import pytest
import yaml

from conftest import (DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, REGISTRY_SH, TEST_IMAGES_SH,
                      Registry, nsexec, run, wait_for)

IMAGES = ["busybox", "httpd", "testbin", "nonroot"]
# The platform names images use for this machine (test-images.sh builds for it).
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(os.uname().machine,
                                                                  os.uname().machine)
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST])
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(registry, repo, ref, accept=MANIFEST_ACCEPT):
    """GET of a manifest: (media type, decoded body, digest the registry answered)."""
    answer = registry.get(f"/v2/{repo}/manifests/{ref}", accept=accept)
    assert answer.status == 200, f"{repo}:{ref}: {answer}"
    digest = answer.headers["docker-content-digest"]
    assert sha256(answer.body) == digest, f"{repo}:{ref}: body does not match its digest"
    return answer.headers["content-type"], json.loads(answer.body), digest


def blob(registry, repo, descriptor):
    """A blob, checked against the descriptor's digest and size."""
    answer = registry.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
    assert answer.status == 200, f"{repo} {descriptor['digest']}: {answer.status}"
    assert sha256(answer.body) == descriptor["digest"]
    assert len(answer.body) == descriptor["size"]
    return answer.body


def pull(registry, repo, ref):
    """Manifest, config and layer tar files (uncompressed) of one image."""
    _, man, _ = manifest(registry, repo, ref)
    config = json.loads(blob(registry, repo, man["config"]))
    layers = [gzip.decompress(blob(registry, repo, layer)) for layer in man["layers"]]
    return man, config, layers


def tar_members(layer):
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_file(layer, name):
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return tar.extractfile(name).read()


def unpack(layers, dest):
    """Applies layers in order the way the OCI layer format says: in each layer, .wh..wh..opq
    empties its directory of what lower layers put there and .wh.NAME removes NAME, then the
    layer's entries are written. Owners and modes are kept (the tests run as root)."""
    for layer in layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            members = tar.getmembers()
            for m in members:
                assert not m.name.startswith("/") and ".." not in m.name.split("/"), m.name
                parent, base = os.path.split(m.name.rstrip("/"))
                target_dir = os.path.join(dest, parent)
                if base == ".wh..wh..opq":
                    for entry in os.listdir(target_dir) if os.path.isdir(target_dir) else []:
                        path = os.path.join(target_dir, entry)
                        if os.path.isdir(path) and not os.path.islink(path):
                            shutil.rmtree(path)
                        else:
                            os.unlink(path)
                elif base.startswith(".wh."):
                    path = os.path.join(target_dir, base[len(".wh."):])
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    elif os.path.lexists(path):
                        os.unlink(path)
            for m in members:
                base = os.path.basename(m.name.rstrip("/"))
                if base.startswith(".wh."):
                    continue
                path = os.path.join(dest, m.name.rstrip("/"))
                if m.isdir():
                    os.makedirs(path, exist_ok=True)
                elif m.issym():
                    if os.path.lexists(path):
                        os.unlink(path)
                    os.symlink(m.linkname, path)
                elif m.isfile():
                    if os.path.lexists(path):
                        os.unlink(path)
                    with open(path, "wb") as f:
                        f.write(tar.extractfile(m).read())
                else:
                    raise AssertionError(f"unexpected entry type in a test image: {m.name}")
                os.lchown(path, m.uid, m.gid)
                if not m.issym():
                    os.chmod(path, m.mode)


def chroot(root, config, *args, userspec=None, check=True):
    """Runs a command of an unpacked image under chroot with the image's environment, as the
    simplest stand-in for a container (no namespaces: only for checking the image's files)."""
    env = dict(item.split("=", 1) for item in config["config"].get("Env", []))
    cmd = ["chroot"] + ([f"--userspec={userspec}"] if userspec else []) + [root, *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert proc.returncode == 0, f"{cmd}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def parse_lines(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture
def unpacked():
    """Unpacks images into temporary root filesystems, removed at the end."""
    roots = []

    def make(layers):
        root = tempfile.mkdtemp(prefix="ckube-e2e-rootfs-")
        roots.append(root)
        os.chmod(root, 0o755)  # as a container's root: every user may enter it
        unpack(layers, root)
        return root

    yield make
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def test_catalog_lists_every_image(registry):
    answer = registry.get("/v2/_catalog")
    assert answer.status == 200, answer
    repos = set(answer.json["repositories"])
    for name in IMAGES + ["multiarch"]:
        assert {name, f"library/{name}"} <= repos
    for name in IMAGES:
        tags = registry.get(f"/v2/{name}/tags/list").json["tags"]
        assert set(tags) == {"1", "latest", "1-docker"}
        assert set(registry.get(f"/v2/library/{name}/tags/list").json["tags"]) == set(tags)
    assert registry.image("busybox") == f"{registry.address}/busybox:1"


@pytest.mark.parametrize("name", IMAGES)
def test_manifest_by_tag(registry, name):
    """Every tag of an image answers the built OCI manifest, with its media type and digest;
    the Docker schema 2 tag has the same config and layers under Docker's media types."""
    for repo, tag in ((name, "1"), (name, "latest"), (f"library/{name}", "1"),
                      (f"library/{name}", "latest")):
        media_type, man, digest = manifest(registry, repo, tag)
        assert media_type == OCI_MANIFEST
        assert man["mediaType"] == OCI_MANIFEST and man["schemaVersion"] == 2
        assert digest == registry.digest(name)
    _, oci, _ = manifest(registry, name, "1")
    media_type, docker, _ = manifest(registry, name, "1-docker", accept=DOCKER_MANIFEST)
    assert media_type == DOCKER_MANIFEST
    assert docker["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert docker["config"]["digest"] == oci["config"]["digest"]
    assert [layer["digest"] for layer in docker["layers"]] == \
        [layer["digest"] for layer in oci["layers"]]
    assert {layer["mediaType"] for layer in docker["layers"]} == \
        {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    # By digest as well as by tag.
    assert manifest(registry, name, registry.digest(name))[2] == registry.digest(name)


@pytest.mark.parametrize("name", IMAGES)
def test_blobs_match_their_digests(registry, name):
    """Config and layers come back with the digests and sizes the manifest names, and the
    config's diff_ids are the digests of the uncompressed layers."""
    man, config, layers = pull(registry, name, "1")
    assert man["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {layer["mediaType"] for layer in man["layers"]} == \
        {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert config["rootfs"]["diff_ids"] == [sha256(layer) for layer in layers]
    assert config["os"] == "linux" and config["architecture"] == ARCH
    assert len(config["history"]) == len(layers)
    # A missing blob is the registry's 404, not something else.
    missing = registry.get(f"/v2/{name}/blobs/sha256:" + "0" * 64)
    assert missing.status == 404


def test_multiarch_index_points_at_busybox_for_this_platform(registry):
    media_type, index, digest = manifest(registry, "library/multiarch", "latest")
    assert media_type == OCI_INDEX and index["mediaType"] == OCI_INDEX
    assert digest == registry.digest("multiarch")
    by_arch = {m["platform"]["architecture"]: m for m in index["manifests"]}
    other_arch = "amd64" if ARCH == "arm64" else "arm64"
    assert set(by_arch) == {ARCH, other_arch}
    assert by_arch[ARCH]["digest"] == registry.digest("busybox")
    # The other platform's manifest is there too, with its own config.
    _, other, _ = manifest(registry, "multiarch", by_arch[other_arch]["digest"])
    config = json.loads(blob(registry, "multiarch", other["config"]))
    assert config["architecture"] == other_arch


def test_testbin_entrypoint_is_the_static_binary(registry, unpacked):
    man, config, layers = pull(registry, "testbin", "1")
    assert config["config"]["Entrypoint"] == ["/usr/bin/ckube-testbin"]
    assert config["config"]["Cmd"] == ["sleep", "infinity"]
    assert PATH in config["config"]["Env"] and "CKUBE_IMAGE=testbin" in config["config"]["Env"]
    members = tar_members(layers[1])
    entry = members["usr/bin/ckube-testbin"]
    assert entry.isfile() and entry.mode & stat.S_IXUSR and entry.uid == 0
    elf = tar_file(layers[1], "usr/bin/ckube-testbin")
    assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF file"
    # Static: no program header asks for an interpreter (PT_INTERP, type 3).
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    types = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types, "ckube-testbin asks for a dynamic loader"
    # And it runs in the image, from the entrypoint, with nothing else there to help it.
    root = unpacked(layers)
    out = chroot(root, config, *config["config"]["Entrypoint"], "id").stdout
    assert parse_lines(out)["uid"] == "0"
    bad = chroot(root, config, *config["config"]["Entrypoint"], "nonsense", check=False)
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_testbin_layers_whiteouts(registry, unpacked):
    """testbin's second layer deletes /usr/bin/wget of the busybox layer (.wh.wget) and makes
    /etc/ckube opaque (.wh..wh..opq), which a correct unpacker shows as below."""
    _, config, layers = pull(registry, "testbin", "1")
    assert len(layers) == 2
    base, top = tar_members(layers[0]), tar_members(layers[1])
    assert "usr/bin/wget" in base and "etc/ckube/base" in base
    assert "usr/bin/.wh.wget" in top and "etc/ckube/.wh..wh..opq" in top
    # The busybox image's only layer is testbin's first: shared, stored once.
    busybox_manifest = manifest(registry, "busybox", "1")[1]
    assert busybox_manifest["layers"][0]["digest"] == \
        manifest(registry, "testbin", "1")[1]["layers"][0]["digest"]
    root = unpacked(layers)
    assert sorted(os.listdir(os.path.join(root, "etc/ckube"))) == ["testbin"]
    assert not os.path.lexists(os.path.join(root, "usr/bin/wget"))
    # (busybox sh would still run wget as a built-in applet; the link is what is gone.)
    assert chroot(root, config, "/bin/sh", "-c", "ls /usr/bin/wget", check=False).returncode != 0
    assert chroot(root, config, "/bin/sh", "-c", "ls /usr/bin/wc").stdout == "/usr/bin/wc\n"
    assert chroot(root, config, "/bin/sh", "-c", "cat /etc/ckube/*").stdout == "testbin\n"


def test_busybox_image_runs_a_shell(registry, unpacked):
    _, config, layers = pull(registry, "busybox", "1")
    assert config["config"]["Cmd"] == ["sh"] and config["config"]["WorkingDir"] == "/"
    assert "User" not in config["config"]
    root = unpacked(layers)
    proc = chroot(root, config, "/bin/sh", "-c", "echo $PATH; cat /etc/ckube/base; ls /bin/sh")
    assert proc.stdout.splitlines() == [PATH.split("=", 1)[1], "base", "/bin/sh"]
    assert stat.S_IMODE(os.stat(os.path.join(root, "tmp")).st_mode) == 0o1777


def test_nonroot_image_user_is_in_its_passwd(registry, unpacked):
    _, config, layers = pull(registry, "nonroot", "1")
    assert config["config"]["User"] == "app"
    assert config["config"]["WorkingDir"] == "/home/app"
    root = unpacked(layers)
    with open(os.path.join(root, "etc/passwd")) as f:
        users = {line.split(":")[0]: line.rstrip("\n").split(":") for line in f}
    with open(os.path.join(root, "etc/group")) as f:
        groups = {line.split(":")[0]: line.rstrip("\n").split(":") for line in f}
    assert users["app"][2:4] == ["1000", "1000"] and users["app"][5] == "/home/app"
    assert "app" in groups["users"][3].split(",") and groups["users"][2] == "100"
    home = os.stat(os.path.join(root, "home/app"))
    assert (home.st_uid, home.st_gid) == (1000, 1000)
    out = chroot(root, config, "/usr/bin/ckube-testbin", "id", userspec="1000:1000").stdout
    ids = parse_lines(out)
    assert (ids["uid"], ids["gid"]) == ("1000", "1000")


def test_httpd_image_serves_www(registry, unpacked, netns):
    """The httpd entrypoint, run in the test's own network namespace, answers on port 80."""
    _, config, layers = pull(registry, "httpd", "1")
    entrypoint = config["config"]["Entrypoint"]
    assert entrypoint[:2] == ["/bin/busybox", "httpd"] and "80" in entrypoint
    assert config["config"]["ExposedPorts"] == {"80/tcp": {}}
    root = unpacked(layers)
    env = dict(item.split("=", 1) for item in config["config"]["Env"])
    proc = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{netns}", "--", "chroot", root,
                             *entrypoint], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        page = wait_for(lambda: nsexec(netns, "curl", "-fsS", "-m", "2",
                                       "http://127.0.0.1:80/").stdout, timeout=10,
                        what="busybox httpd in the test namespace")
        assert "ckube test httpd" in page
        assert nsexec(netns, "curl", "-fsS", "http://127.0.0.1/healthz").stdout == "ok\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_registries_yaml_mirrors_docker_io(registry, scratch):
    path = registry.write_registries(str(scratch / "config"))
    assert path == str(scratch / "config" / "registries.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    endpoint = [f"http://{registry.address}"]
    assert doc == {"mirrors": {"docker.io": {"endpoint": endpoint},
                               registry.address: {"endpoint": endpoint}}}
    # What `image: httpd` becomes through that mirror is there.
    _, _, digest = manifest(registry, "library/httpd", "latest")
    assert digest == registry.digest("httpd")


def test_image_build_is_reproducible_and_cached(registry, scratch):
    again = run([TEST_IMAGES_SH, registry.images_dir], timeout=120)
    assert "up to date" in again.stdout
    # A fresh build elsewhere gives the same bytes, hence the same digests.
    env = dict(os.environ, IMAGES="busybox")
    fresh = subprocess.run([TEST_IMAGES_SH, str(scratch / "images")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    with open(scratch / "images" / "images.txt") as f:
        assert f.read().split() == ["busybox", registry.digest("busybox")]
    assert not [p for p in os.listdir(scratch / "images") if p.startswith("work.")]


def registry_processes(config):
    """Pids of processes whose command line names `config`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if config.encode() in args and state != "Z":
            found.append(int(pid))
    return found


def test_stop_leaves_nothing_behind(registry):
    """A registry of the test's own: started, filled, stopped. Afterwards its directory, its
    process and its port are gone, and pushing wrote nothing outside it."""
    had_containers_dir = os.path.exists("/var/lib/containers")
    directory = tempfile.mkdtemp(prefix="ckube-e2e-registry-stop-")
    config = os.path.join(directory, "config.yml")
    try:
        started = time.monotonic()
        address = run([REGISTRY_SH, "start", directory], timeout=60).stdout.strip()
        assert address.startswith("127.0.0.1:") and address != registry.address
        # start again: the same registry, not a second one.
        assert run([REGISTRY_SH, "start", directory]).stdout.strip() == address
        pids = registry_processes(config)
        assert len(pids) == 1
        with open(os.path.join(directory, "pid")) as f:
            assert int(f.read()) == pids[0]
        run([REGISTRY_SH, "push", registry.images_dir, address, "busybox"], timeout=120)
        mine = Registry(address, registry.images_dir, directory)
        assert manifest(mine, "busybox", "1")[2] == registry.digest("busybox")
        print(f"start and push of busybox: {time.monotonic() - started:.2f}s")
        run([REGISTRY_SH, "stop", directory], timeout=60)
        assert not os.path.exists(directory)
        assert registry_processes(config) == []
        host, port = address.rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=2).close()
        assert os.path.exists("/var/lib/containers") == had_containers_dir
        # Stopping what is already gone is fine; a directory it did not make is refused.
        run([REGISTRY_SH, "stop", directory])
    finally:
        if os.path.exists(directory):
            run([REGISTRY_SH, "stop", directory], check=False)
            shutil.rmtree(directory, ignore_errors=True)


def test_stop_refuses_foreign_directories(scratch):
    (scratch / "keep").write_text("precious\n")
    proc = run([REGISTRY_SH, "stop", str(scratch)], check=False)
    assert proc.returncode != 0 and "not touching it" in proc.stderr
    assert (scratch / "keep").read_text() == "precious\n"
