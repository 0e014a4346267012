"""Containers from images through `ckube run`: pulled on first use from the local registry
(docker.io mirrored to it), the image's entrypoint, command, user and environment, layers
stacked with their whiteouts and opaque directories, a writable layer of the container's own,
image errors with their Kubernetes reasons, and nothing left behind."""
import os
import signal
import subprocess

import pytest

from conftest import CKUBE


@pytest.fixture
def image_node(node, registry):
    registry.write_registries(node.config_dir)
    return node


def kv(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_docker_hub_name_is_pulled_on_first_use(image_node):
    first = image_node.run("--rm", "busybox", "--", "echo", "hello")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "hello\n"
    listed = subprocess.run([CKUBE, "image", "--data-dir", image_node.data_dir, "ls"],
                            capture_output=True, text=True)
    assert "docker.io/library/busybox" in listed.stdout
    # Second run: from the store, with the registry configuration gone.
    os.unlink(os.path.join(image_node.config_dir, "registries.yaml"))
    again = image_node.run("--rm", "busybox", "--", "echo", "again")
    assert again.stdout == "again\n"
    assert image_node.leftovers() == {}


def test_entrypoint_and_command_of_the_image(image_node, registry):
    """testbin's image runs `ckube-testbin sleep infinity` unless told otherwise."""
    proc = image_node.start("--rm", "--name", "defaults", registry.image("testbin"))
    try:
        image_node.wait_running("defaults")
        args = image_node.exec("defaults", "cat", "/proc/1/cmdline").stdout.split("\0")
        assert args[:3] == ["/usr/bin/ckube-testbin", "sleep", "infinity"]
    finally:
        proc.send_signal(signal.SIGTERM)  # a stop: the image's StopSignal, SIGINT, ends it
        assert proc.wait(timeout=10) == 0
    replaced = image_node.run("--rm", registry.image("testbin"), "--", "ckube-testbin", "pid")
    assert kv(replaced.stdout)["pid"] == "1"


def test_user_of_the_image(image_node, registry):
    ids = kv(image_node.run("--rm", registry.image("nonroot"), "--", "ckube-testbin",
                            "id").stdout)
    assert ids["uid"] == "1000"
    assert "100" in ids["groups"].split(",")
    root = kv(image_node.run("--rm", "-u", "0", registry.image("nonroot"), "--",
                             "ckube-testbin", "id").stdout)
    assert root["uid"] == "0"


def test_layers_whiteouts_and_opaque_directories(image_node, registry):
    out = image_node.run("--rm", registry.image("testbin"), "--", "/bin/sh", "-c",
                         "test -e /usr/bin/wget; echo wget=$?; ls -A /etc/ckube; "
                         "test -x /bin/busybox; echo busybox=$?")
    assert out.returncode == 0, out.stderr
    values = kv(out.stdout)
    assert values["wget"] == "1"  # deleted by the upper layer's whiteout
    assert values["busybox"] == "0"  # from the lower layer
    # The lower layer's /etc/ckube holds "base"; the opaque directory above hides it.
    lower_only = image_node.run("--rm", registry.image("busybox"), "--", "ls", "-A",
                                "/etc/ckube")
    assert lower_only.stdout.split() == ["base"]
    assert [line for line in out.stdout.splitlines() if "=" not in line] == ["testbin"]


def test_writable_layer_is_the_containers_own(image_node, registry):
    image = registry.image("busybox")
    assert image_node.run("--name", "writer", image, "--", "/bin/sh", "-c",
                          "echo data > /etc/new-file && rm /usr/bin/wget").returncode == 0
    upper = os.path.join(image_node.data_dir, "containers", "writer", "upper")
    with open(os.path.join(upper, "etc", "new-file")) as f:
        assert f.read() == "data\n"
    assert os.path.exists(os.path.join(upper, "usr", "bin", "wget"))  # the whiteout
    fresh = image_node.run("--rm", image, "--", "/bin/sh", "-c",
                           "test -e /etc/new-file; echo new=$?; test -e /usr/bin/wget; echo wget=$?")
    assert kv(fresh.stdout) == {"new": "1", "wget": "0"}
    assert subprocess.run(image_node.command("rm", "writer")).returncode == 0
    assert image_node.leftovers() == {}


def test_image_errors(image_node, registry):
    unknown = image_node.run("--rm", f"{registry.address}/no-such-image:1", "--", "true")
    assert unknown.returncode == 125
    assert "ErrImagePull" in unknown.stderr
    assert "no-such-image" in unknown.stderr
    invalid = image_node.run("--rm", "Not/A:Valid:Name", "--", "true")
    assert invalid.returncode == 125
    assert "InvalidImageName" in invalid.stderr
    assert "invalid reference format" in invalid.stderr
    assert image_node.leftovers() == {}
    assert os.listdir(os.path.join(image_node.data_dir, "images", "tmp")) == []


def test_registry_down(image_node, tmp_path):
    (tmp_path / "registries.yaml").write_text(
        "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:9\"]\n")
    down = image_node.run("--rm", "--config-dir", str(tmp_path), "httpd", "--", "true")
    assert down.returncode == 125
    assert "ErrImagePull" in down.stderr
    assert "127.0.0.1:9" in down.stderr
    assert image_node.leftovers() == {}


def test_stop_sends_the_images_stop_signal(image_node, registry):
    proc = image_node.start("--rm", "--name", "stopsignal", registry.image("testbin"), "--",
                            "ckube-testbin", "signals")
    assert proc.stdout.readline().startswith("ready")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert kv(out)["signal"] == "SIGINT"  # the image's StopSignal, not the SIGTERM we sent
