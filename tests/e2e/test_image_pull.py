"""Pulls from a real registry (Debian's docker-registry on 127.0.0.1, filled by scripts/ with
the test images) with `ckube image pull`: names normalized as Kubernetes does, OCI and Docker
schema 2 manifests, an image index resolved to linux/amd64, every blob in the store matching its
digest, layers unpacked, clear errors, and concurrent pulls of one image sharing the store."""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import CKUBE, OCI_INDEX

PULL_TIMEOUT = 120


def image_command(store_root, *args):
    """`ckube image ARGS` for a store whose directories are under store_root."""
    return [CKUBE, "image", "--data-dir", str(store_root / "data"), "--config-dir",
            str(store_root / "config")] + list(args)


def ckube_image(store_root, *args, check=True):
    cmd = image_command(store_root, *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PULL_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stderr}")
    return proc


@pytest.fixture
def store(scratch, registry):
    """A store's directories with registries.yaml pointing docker.io (and the registry's own
    address) at the test registry."""
    registry.write_registries(str(scratch / "config"))
    return scratch


def store_index(store):
    with open(store / "data/images/index.json") as f:
        return json.load(f)["images"]


def image_named(store, name):
    matches = [image for image in store_index(store) if name in image["names"]]
    assert len(matches) == 1, f"{name}: {store_index(store)}"
    return matches[0]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def assert_store_verified(store):
    """Every blob is stored under its own digest; every image's blobs and layers are there."""
    blobs = store / "data/images/blobs/sha256"
    for name in os.listdir(blobs):
        assert sha256_of(blobs / name) == "sha256:" + name
    for image in store_index(store):
        for digest in [image["id"], image["manifestDigest"]] + \
                [layer["digest"] for layer in image["layers"]]:
            assert (blobs / digest[len("sha256:"):]).is_file(), digest
        for layer in image["layers"]:
            assert (store / "data/images/layers/sha256" / layer["diffID"][len("sha256:"):]).is_dir()
    assert os.listdir(store / "data/images/tmp") == []


def test_docker_hub_names_go_through_the_mirror(store, registry):
    ckube_image(store, "pull", "busybox:1")
    image = image_named(store, "docker.io/library/busybox:1")
    # The tag resolved to the manifest registry.sh pushed, recorded as a digest name too.
    assert f"docker.io/library/busybox@{registry.digest('busybox')}" in image["names"]
    assert image["manifestDigest"] == registry.digest("busybox")
    layer = image["layers"][-1]["diffID"][len("sha256:"):]
    assert (store / "data/images/layers/sha256" / layer / "bin/busybox").exists()
    assert image["config"]["Cmd"] == ["sh"]
    assert_store_verified(store)


def test_by_digest_and_docker_schema_2(store, registry):
    by_digest = f"{registry.address}/httpd@{registry.digest('httpd')}"
    ckube_image(store, "pull", by_digest)
    assert image_named(store, by_digest)["manifestDigest"] == registry.digest("httpd")
    docker = registry.image("nonroot", "1-docker")
    ckube_image(store, "pull", docker)
    image = image_named(store, docker)
    assert image["config"]["User"] == "app"
    answer = registry.get("/v2/nonroot/manifests/1-docker",
                          accept="application/vnd.docker.distribution.manifest.v2+json")
    assert image["manifestDigest"] == answer.headers["docker-content-digest"]
    assert_store_verified(store)


def test_an_index_gives_its_linux_amd64_image(store, registry):
    reference = registry.image("multiarch")
    ckube_image(store, "pull", reference)
    answer = registry.get("/v2/multiarch/manifests/1", accept=OCI_INDEX)
    index = json.loads(answer.body)
    amd64 = [m["digest"] for m in index["manifests"]
             if (m["platform"]["os"], m["platform"]["architecture"]) == ("linux", "amd64")]
    assert len(amd64) == 1
    image = image_named(store, reference)
    assert image["manifestDigest"] == amd64[0]
    assert f"{registry.address}/multiarch@{registry.digest('multiarch')}" in image["names"]
    assert_store_verified(store)


def test_errors_name_the_image_and_the_reason(store, registry):
    missing = ckube_image(store, "pull", f"{registry.address}/nope:1", check=False)
    assert missing.returncode != 0
    assert f"pull {registry.address}/nope:1: " in missing.stderr
    assert "manifest unknown" in missing.stderr
    invalid = ckube_image(store, "pull", "Busybox", check=False)
    assert invalid.returncode != 0
    assert "invalid reference format" in invalid.stderr
    assert not (store / "data/images/index.json").exists() or store_index(store) == []


def test_concurrent_pulls_share_one_store(store, registry):
    cmd = image_command(store, "pull", registry.image("testbin"))
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=PULL_TIMEOUT)
        assert proc.returncode == 0, stderr
    assert len(store_index(store)) == 1
    image = image_named(store, registry.image("testbin"))
    assert image["manifestDigest"] == registry.digest("testbin")
    assert_store_verified(store)
