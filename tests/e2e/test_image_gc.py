"""`ckube image gc` on a small file system of its own: a tmpfs mounted as the data directory in a
private mount namespace that ends with the test's shell, so that nothing is ever mounted on the
host. Images are pulled from the test registry; one is kept in use by a running container. With
thresholds, the collection removes the least recently used image no container uses and keeps
the rest; told to free everything, it still refuses the image in use."""
import json
import os
import subprocess

from conftest import CKUBE

# Everything happens in one shell in a mount namespace of its own: once it exits, the tmpfs is
# gone with the namespace. Sections of its output start with "== NAME".
SCRIPT = r"""
mount -t tmpfs -o size=16m,mode=0700 ckube-e2e-gc "$DATA" || exit 1
image() { "$CKUBE" image --data-dir "$DATA" --run-dir "$RUN" --config-dir "$CONFIG" "$@"; }
section() { echo "== $1"; }

image pull "$IN_USE" >/dev/null || exit 1
# The container marks busybox used now, before the other two are pulled: it is the least
# recently used image, and in use.
"$CKUBE" run --data-dir "$DATA" --run-dir "$RUN" --config-dir "$CONFIG" \
    --cgroup-root "$CGROUP_ROOT" --rm --name gc-user --grace-period 0 \
    "$IN_USE" -- sleep 600 >/dev/null 2>"$LOGS/run.err" &
runner=$!
for i in $(seq 400); do
    [ -e "$RUN/containers/gc-user/state.json" ] && break
    sleep 0.05
done
sleep 1.1
image pull "$OLDER" >/dev/null || exit 1
sleep 1.1
image pull "$NEWER" >/dev/null || exit 1

set -- $(stat -f -c '%a %b' "$DATA")
usage=$((100 - $1 * 100 / $2))
section usage; echo "$usage"
section first
image gc --high "$usage" --low $((usage - 1)) --min-age 0s
echo "exit $?"
section "index after first"; cat "$DATA/images/index.json"; echo
section second
image gc --high 1 --low 0 --min-age 0s 2>&1
echo "exit $?"
section "index after second"; cat "$DATA/images/index.json"; echo
section tmp; ls -A "$DATA/images/tmp"

kill -TERM "$runner"
wait "$runner"
section runner; echo "exit $?"
"""


def sections(text):
    parts, name = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:]
            parts[name] = []
        elif name:
            parts[name].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def named(index, name):
    """The IDs of the images in index.json that have `name`."""
    return [image["id"] for image in json.loads(index)["images"] if name in image["names"]]


def test_gc_removes_the_least_recently_used_image_not_in_use(node, registry):
    registry.write_registries(node.config_dir)
    os.makedirs(node.data_dir)
    in_use, older, newer = (registry.image(n) for n in ("busybox", "testbin", "httpd"))
    env = dict(os.environ, CKUBE=CKUBE, DATA=node.data_dir, RUN=node.run_dir,
               CONFIG=node.config_dir, CGROUP_ROOT=node.cgroup_root, LOGS=node.root,
               IN_USE=in_use, OLDER=older, NEWER=newer)
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT],
                          env=env, capture_output=True, text=True, timeout=300)
    out = sections(done.stdout)
    with open(os.path.join(node.root, "run.err")) as f:
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{f.read()}"
    # Nothing of the namespace outlives it.
    assert "ckube-e2e-gc" not in open("/proc/self/mountinfo").read()

    usage = int(out["usage"])
    first = out["first"]
    assert first.endswith("exit 0"), done.stdout
    # Only the least recently used image that no container uses went.
    index = out["index after first"]
    removed = [line for line in first.splitlines() if line.startswith("Deleted: ")]
    assert len(removed) == 1, first
    assert f"{older}" in removed[0], first
    assert named(index, older) == []
    assert len(named(index, in_use)) == 1 and len(named(index, newer)) == 1
    reclaimed = [line for line in first.splitlines() if line.startswith("Total reclaimed")]
    assert reclaimed and f"(usage {usage}% -> " in reclaimed[0], first
    assert not reclaimed[0].startswith("Total reclaimed space: 0B"), first

    # Asked to free everything: the other image goes, the one in use never does.
    second = out["second"]
    assert second.endswith("exit 1"), done.stdout
    assert "no other image may go" in second
    assert named(out["index after second"], newer) == []
    assert len(named(out["index after second"], in_use)) == 1
    assert out["tmp"] == ""
    assert out["runner"].startswith("exit "), done.stdout
    assert node.leftovers() == {}
