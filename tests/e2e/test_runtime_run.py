"""Containers through `ckube run`, `exec`, `wait` and `rm`, from a root file system directory:
exit codes, namespaces, users, capabilities, seccomp, read-only and masked paths, /etc files,
environment, exec, stop with grace, logs, adoption, and that nothing is left behind."""
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import time

DEFAULT_CAPS = "00000000a80425fb"  # the 14 of containerd and Docker
CAP_NET_ADMIN = 1 << 12


def kv(text):
    """testbin's key=value lines as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def host_bounding_set():
    with open("/proc/self/status") as f:
        return re.search(r"CapBnd:\s*([0-9a-f]+)", f.read()).group(1)


def test_exit_codes_and_output(node, rootfs):
    done = node.run("--rm", rootfs, "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3
    assert done.stdout == "out\n"
    assert "err\n" in done.stderr
    piped = node.run("--rm", rootfs, "--", "cat", input="in the container\n")
    assert piped.stdout == "in the container\n"
    # Killed from outside (pid 1 of a pid namespace ignores SIGKILL from inside it).
    proc = node.start("--rm", "--name", "victim", rootfs, "--", "sleep", "30")
    os.kill(node.wait_running("victim")["pid"], signal.SIGKILL)
    assert proc.wait(timeout=10) == 137
    assert node.leftovers() == {}


def test_command_failures_have_kubernetes_reasons(node, rootfs):
    missing = node.run("--rm", rootfs, "--", "nosuch")
    assert missing.returncode == 127
    assert "RunContainerError" in missing.stderr
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr
    not_executable = node.run("--rm", rootfs, "--", "/etc/passwd")
    assert not_executable.returncode == 126
    assert "Permission denied" in not_executable.stderr
    bad_user = node.run("--rm", "-u", "ghost", rootfs, "--", "true")
    assert bad_user.returncode == 125
    assert "CreateContainerError" in bad_user.stderr
    assert "unable to find user ghost: no matching entries in passwd file" in bad_user.stderr
    bad_limit = node.run("--rm", "--memory", "lots", rootfs, "--", "true")
    assert bad_limit.returncode == 125
    assert "--memory" in bad_limit.stderr
    negative = node.run("--rm", "--memory=-5Mi", rootfs, "--", "true")
    assert negative.returncode == 125
    assert "--memory -5Mi: must be greater than 0" in negative.stderr
    bad_cap = node.run("--rm", "--cap-add", "FLY", rootfs, "--", "true")
    assert bad_cap.returncode == 125
    assert 'unknown capability "FLY"' in bad_cap.stderr
    assert node.leftovers() == {}


def test_namespaces(node, rootfs):
    assert kv(node.run("--rm", rootfs, "--", "testbin", "pid").stdout)["pid"] == "1"
    out = node.run("--rm", "--name", "ns-test", rootfs, "--", "/bin/sh", "-c",
                   "testbin hostname; testbin cgroup; ls /sys/class/net")
    assert out.returncode == 0, out.stderr
    assert kv(out.stdout)["hostname"] == "ns-test"
    assert "0::/\n" in out.stdout  # a cgroup namespace rooted at its own cgroup
    assert out.stdout.split()[-1] == "lo"  # --net none: loopback only
    host_links = sorted(os.listdir("/sys/class/net"))
    shared = node.run("--rm", "--net", "host", rootfs, "--", "ls", "/sys/class/net")
    assert sorted(shared.stdout.split()) == host_links


def test_cgroup_is_the_containers(node, rootfs):
    proc = node.start("--rm", "--name", "cg", rootfs, "--", "sleep", "30")
    try:
        state = node.wait_running("cg")
        cgroup = state["cgroup"]
        assert cgroup == os.path.join(node.cgroup_path, "run", "cg")
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            assert int(f.read().split()[0]) == state["pid"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_users_and_groups(node, rootfs):
    root = kv(node.run("--rm", rootfs, "--", "testbin", "id").stdout)
    assert (root["uid"], root["gid"]) == ("0", "0")
    app = kv(node.run("--rm", "-u", "app", rootfs, "--", "testbin", "id").stdout)
    assert (app["uid"], app["euid"], app["gid"]) == ("1000", "1000", "1000")
    assert set(app["groups"].split(",")) == {"100", "1000"}  # users lists app
    numeric = kv(node.run("--rm", "-u", "4242:77", rootfs, "--", "testbin", "id").stdout)
    assert (numeric["uid"], numeric["gid"]) == ("4242", "77")
    home = node.run("--rm", "-u", "app", rootfs, "--", "/bin/sh", "-c", "echo $HOME")
    assert home.stdout == "/home/app\n"


def test_capabilities(node, rootfs):
    caps = kv(node.run("--rm", rootfs, "--", "testbin", "caps").stdout)
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == DEFAULT_CAPS
    assert caps["CapAmb"] == "0000000000000000"
    added = kv(node.run("--rm", "--cap-add", "NET_ADMIN", rootfs, "--", "testbin", "caps").stdout)
    assert int(added["CapEff"], 16) == int(DEFAULT_CAPS, 16) | CAP_NET_ADMIN
    none = kv(node.run("--rm", "--cap-drop", "ALL", rootfs, "--", "testbin", "caps").stdout)
    assert none["CapEff"] == none["CapBnd"] == "0000000000000000"
    # A user other than root keeps the bounding set but holds nothing, as with containerd.
    app = kv(node.run("--rm", "-u", "app", rootfs, "--", "testbin", "caps").stdout)
    assert app["CapEff"] == "0000000000000000"
    assert app["CapBnd"] == DEFAULT_CAPS
    privileged = node.run("--rm", "--privileged", rootfs, "--", "testbin", "caps")
    assert privileged.returncode == 0, privileged.stderr
    privileged = kv(privileged.stdout)
    assert privileged["CapEff"] == host_bounding_set().rjust(16, "0")


def test_no_new_privs(node, rootfs):
    assert kv(node.run("--rm", rootfs, "--", "testbin", "caps").stdout)["no_new_privs"] == "1"
    allowed = node.run("--rm", "--allow-escalation", rootfs, "--", "testbin", "caps")
    assert kv(allowed.stdout)["no_new_privs"] == "0"


def test_seccomp_runtime_default_blocks_namespaces_and_mounts(node, rootfs):
    confined = kv(node.run("--rm", rootfs, "--", "testbin", "seccomp").stdout)
    assert confined["Seccomp"] == "2"
    assert confined["unshare_newns"] == "EPERM"
    assert confined["mount"] == "EPERM"
    shell = node.run("--rm", rootfs, "--", "/bin/sh", "-c", "unshare -m true")
    assert shell.returncode != 0 and "Operation not permitted" in shell.stderr
    # Without seccomp, CAP_SYS_ADMIN is still missing: the kernel refuses too.
    unconfined = kv(node.run("--rm", "--seccomp", "unconfined", rootfs, "--", "testbin",
                             "seccomp").stdout)
    assert unconfined["Seccomp"] == "0"
    assert unconfined["unshare_newns"] == "EPERM"
    # Loading the profile without no_new_privs works through CAP_SYS_ADMIN held just for it.
    escalating = kv(node.run("--rm", "--allow-escalation", rootfs, "--", "testbin",
                             "seccomp").stdout)
    assert escalating["Seccomp"] == "2"


def test_read_only_root_and_masked_paths(node, rootfs):
    script = ("touch /made-here; echo root=$?; touch /dev/shm/x; echo shm=$?; "
              "echo 1 > /proc/sys/kernel/hostname; echo procsys=$?; "
              "ls /sys/firmware | wc -l; wc -c < /proc/keys; grep -c ' /proc/acpi ' /proc/self/mountinfo")
    out = node.run("--rm", "--read-only", rootfs, "--", "/bin/sh", "-c", script)
    lines = out.stdout.split()
    assert "root=1" in lines and "Read-only file system" in out.stderr
    assert "shm=0" in lines
    assert "procsys=1" in lines
    assert lines[-3:] == ["0", "0", "1"]  # empty /sys/firmware, /proc/keys is /dev/null
    assert not os.path.exists(os.path.join(rootfs, "made-here"))
    writable = node.run("--rm", rootfs, "--", "/bin/sh", "-c", "touch /tmp/w && echo ok")
    assert writable.stdout == "ok\n"
    os.unlink(os.path.join(rootfs, "tmp", "w"))
    privileged = node.run("--rm", "--privileged", rootfs, "--", "/bin/sh", "-c",
                          "grep -c ' /proc/acpi ' /proc/self/mountinfo")
    assert privileged.stdout == "0\n"


def test_dev_and_etc_files(node, rootfs):
    out = node.run("--rm", "--name", "etc-test", rootfs, "--", "/bin/sh", "-c",
                   "ls /dev; cat /etc/hostname; grep localhost /etc/hosts")
    entries = out.stdout.split()
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
                 "mqueue", "fd", "stdin", "stdout", "stderr"):
        assert name in entries
    assert "etc-test" in entries
    assert "127.0.0.1\tlocalhost" in out.stdout


def test_environment(node, rootfs):
    out = node.run("--rm", "-e", "A=1", "-e", "B=$(A)-x", "-e", "C=$$(A)", rootfs, "--",
                   "testbin", "env")
    env = kv(out.stdout)
    assert env["A"] == "1" and env["B"] == "1-x" and env["C"] == "$(A)"
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOME"] == "/root"
    assert env["HOSTNAME"].startswith("run-")
    expanded = node.run("--rm", "-e", "WHO=world", rootfs, "--", "echo", "hello $(WHO)")
    assert expanded.stdout == "hello world\n"


def test_exec_joins_the_container(node, rootfs):
    proc = node.start("--rm", "--name", "ex", "-u", "app", rootfs, "--", "sleep", "30")
    try:
        node.wait_running("ex")
        ids = kv(node.exec("ex", "testbin", "id").stdout)
        assert ids["uid"] == "1000"
        caps = node.exec("ex", "testbin", "caps")
        assert caps.returncode == 0, caps.stderr
        caps = kv(caps.stdout)
        assert caps["CapBnd"] == DEFAULT_CAPS and caps["no_new_privs"] == "1"
        assert kv(node.exec("ex", "testbin", "seccomp").stdout)["Seccomp"] == "2"
        ps = node.exec("ex", "ps", "-o", "pid,args")
        assert re.search(r"^\s*1 sleep 30$", ps.stdout, re.M), ps.stdout
        assert node.exec("ex", "hostname").stdout == "ex\n"
        assert node.exec("ex", "/bin/sh", "-c", "exit 9").returncode == 9
        piped = subprocess.run(node.command("exec", "ex", "--", "cat"), input="through\n",
                               capture_output=True, text=True, timeout=30)
        assert piped.stdout == "through\n"
        missing = node.exec("ex", "nosuch")
        assert missing.returncode == 127 and "executable file not found" in missing.stderr
        assert node.exec("nope", "true").returncode == 125
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_stop_with_grace(node, rootfs):
    # testbin sleep ends on SIGTERM with 0; ckube run turns its own SIGTERM into a stop.
    proc = node.start("--rm", "--name", "graceful", rootfs, "--", "testbin", "sleep", "30")
    node.wait_running("graceful")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 2
    # busybox sleep as pid 1 ignores SIGTERM: after the grace period the cgroup is killed.
    proc = node.start("--rm", "--name", "stubborn", "--grace-period", "1", rootfs, "--",
                      "sleep", "30")
    node.wait_running("stubborn")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 137
    assert 0.9 < time.monotonic() - started < 5
    assert node.leftovers() == {}


def test_stop_kills_every_process_of_the_container(node, rootfs):
    proc = node.start("--rm", "--name", "family", "--grace-period", "0", rootfs, "--",
                      "testbin", "fork", "3", "30")
    state = node.wait_running("family")
    time.sleep(0.3)
    with open(os.path.join(state["cgroup"], "cgroup.procs")) as f:
        assert len(f.read().split()) == 4
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert node.leftovers() == {}


def test_cri_logs(node, rootfs, tmp_path):
    log = tmp_path / "pod" / "c" / "0.log"
    long_line = "x" * 20000
    script = f"echo one; echo two >&2; echo {long_line}; printf tail"
    assert node.run("--rm", "--log", str(log), rootfs, "--", "/bin/sh", "-c",
                    script).returncode == 0
    records = log.read_text().splitlines()
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")
    parsed = [pattern.match(r).groups() for r in records]
    assert ("stdout", "F", "one") in parsed
    assert ("stderr", "F", "two") in parsed
    stdout = [p for p in parsed if p[0] == "stdout"]
    assert stdout[1] == ("stdout", "P", "x" * 16384)
    assert stdout[2] == ("stdout", "F", "x" * (20000 - 16384))
    assert stdout[3] == ("stdout", "F", "tail")


def test_adoption_after_the_runner_dies(node, rootfs):
    """A container outlives the process that started it; another finds it by its state and
    learns its exit code."""
    proc = node.start("--name", "orphan", rootfs, "--", "/bin/sh", "-c", "sleep 1; exit 5")
    node.wait_running("orphan")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    waited = subprocess.run(node.command("wait", "orphan"), capture_output=True, text=True,
                            timeout=30)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout == "5\n"
    assert subprocess.run(node.command("rm", "orphan")).returncode == 0
    assert node.container_dirs() == []


def test_rm_refuses_running_containers(node, rootfs):
    proc = node.start("--name", "busy", rootfs, "--", "sleep", "30")
    try:
        node.wait_running("busy")
        refused = subprocess.run(node.command("rm", "busy"), capture_output=True, text=True)
        assert refused.returncode == 1 and "is running" in refused.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_without_rm_the_state_stays_until_ckube_rm(node, rootfs):
    assert node.run("--name", "kept", rootfs, "--", "true").returncode == 0
    with open(os.path.join(node.run_dir, "containers", "kept", "state.json")) as f:
        assert json.load(f)["id"] == "kept"
    assert node.leftovers(containers=False) == {}  # no process, mount or cgroup
    assert subprocess.run(node.command("rm", "kept")).returncode == 0
    assert node.container_dirs() == []


def test_memory_limit_reports_what_is_not_enforced(node, rootfs):
    out = node.run("--rm", "--memory", "64Mi", rootfs, "--", "true")
    assert out.returncode == 0
    with open(os.path.join(os.path.dirname(node.cgroup_path), "cgroup.controllers")) as f:
        has_memory = "memory" in f.read().split()
    if has_memory:
        assert "not enforced" not in out.stderr
    else:
        assert "--memory is not enforced" in out.stderr
        assert "memory" in out.stderr


def test_shared_pid_namespace(node, rootfs):
    """--pid container:ID joins another container's pid namespace, as a pod's containers
    share one with shareProcessNamespace."""
    first = node.start("--rm", "--name", "first", rootfs, "--", "sleep", "30")
    try:
        node.wait_running("first")
        second = node.run("--rm", "--pid", "container:first", rootfs, "--", "ps", "-o",
                          "pid,args")
        assert second.returncode == 0, second.stderr
        assert re.search(r"^\s*1 sleep 30$", second.stdout, re.M), second.stdout
        own = [line for line in second.stdout.splitlines() if "ps -o" in line]
        assert own and not own[0].strip().startswith("1 ")
        gone = node.run("--rm", "--pid", "container:nope", rootfs, "--", "true")
        assert gone.returncode == 125 and "no container nope" in gone.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def test_exec_with_a_terminal(node, rootfs):
    proc = node.start("--rm", "--name", "tty", rootfs, "--", "sleep", "30")
    try:
        node.wait_running("tty")
        command = node.command("exec", "-t", "tty", "--", "/bin/sh", "-c",
                               "tty; stty size; exit 3")
        pid, fd = pty.fork()
        if pid == 0:
            # Our terminal's size, which exec gives the container's terminal.
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
            os.execv(command[0], command)
        output = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
        text = output.decode()
        assert "/dev/pts/0" in text  # a terminal of the container's own devpts
        assert re.search(r"^31 97\s*$", text, re.M), text
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_joining_another_containers_namespaces(node, rootfs):
    """--net, --ipc and --uts container:ID join the namespaces of a running container, as a
    pod's containers join the pod's."""
    show = "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname"
    first = node.start("--rm", "--name", "holder", rootfs, "--", "sleep", "30")
    try:
        node.wait_running("holder")
        own = node.exec("holder", "/bin/sh", "-c", show).stdout.split()
        joined = node.run("--rm", "--net", "container:holder", "--ipc", "container:holder",
                          "--uts", "container:holder", rootfs, "--", "/bin/sh", "-c", show)
        assert joined.returncode == 0, joined.stderr
        assert joined.stdout.split() == own
        assert own[-1] == "holder"
        apart = node.run("--rm", rootfs, "--", "/bin/sh", "-c", show).stdout.split()
        assert all(a != b for a, b in zip(apart[:3], own[:3]))
        bad = node.run("--rm", "--net", "bogus", rootfs, "--", "true")
        assert bad.returncode == 2 and "--net: container:ID" in bad.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
