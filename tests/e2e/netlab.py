"""Network namespaces for the end-to-end tests, and TCP relays between them.

Every node agent a test starts runs in a network namespace the harness makes (`Netns.create`)
and deletes, because the agent builds its pod network (a bridge, veths, routes, nftables,
sysctls) in the namespace it runs in, and nothing may ever be built in this machine's own.

A socket belongs to the network namespace of the thread that created it, for its whole life,
whatever thread uses it later. So each namespace gets one daemon thread that has entered it
(setns) and does nothing but create sockets (and run other short calls) for the others; the
root namespace is the test process's own, held open from import on. A `Relay` listens in one
namespace and, for each connection it accepts, connects to an address in another, so that
clients in one namespace reach a server in another at the same loopback address and port as
if nothing were in between (kubectl from the test process, the agent to its API server, the
API server to a node's endpoint, an agent to the local registry)."""
import ctypes
import http.client
import os
import queue
import socket
import subprocess
import threading
import uuid

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
# The test process's own namespace: where every thread that has not entered another one is,
# and where a namespace worker goes back to if ever asked.
ROOT_NS_FD = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


def run(cmd, input=None, check=True, timeout=60):
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


class _Worker(threading.Thread):
    """A daemon thread inside one namespace that runs the calls queued to it. It holds the
    namespace alive while it runs, so it is stopped before the namespace is deleted."""

    def __init__(self, netns):
        super().__init__(daemon=True, name=f"netns-{netns.name or 'root'}")
        self.netns = netns
        self.calls = queue.Queue()
        self.entered = threading.Event()
        self.error = None

    def run(self):
        try:
            if self.netns.is_root:
                _setns(ROOT_NS_FD)
            else:
                fd = os.open(self.netns.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _setns(fd)
                finally:
                    os.close(fd)
        except OSError as e:
            self.error = e
            self.entered.set()
            return
        self.entered.set()
        while True:
            call = self.calls.get()
            if call is None:
                return
            fn, args, result, done = call
            try:
                result.append((True, fn(*args)))
            except BaseException as e:  # handed to the caller, raised there
                result.append((False, e))
            done.set()


class Netns:
    """A network namespace: None for the test process's own (ROOT), else a name under
    /var/run/netns. `owned` ones were made by `create` and are removed by `delete`."""

    def __init__(self, name=None, owned=False):
        self.name = name
        self.owned = owned
        self.path = os.path.join(NETNS_DIR, name) if name else "/proc/self/ns/net"
        self._worker = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Netns({self.name or 'root'})"

    @property
    def is_root(self):
        return self.name is None

    @classmethod
    def create(cls, prefix="ckube-e2e"):
        """A fresh namespace named PREFIX-<8 hex digits> with lo up (nothing else in it)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        run(["ip", "netns", "add", name])
        ns = cls(name, owned=True)
        try:
            ns.ip("link", "set", "lo", "up")
        except BaseException:
            ns.delete()
            raise
        return ns

    def inode(self):
        """The namespace's inode (what /proc/PID/ns/net links name as net:[INODE])."""
        return os.stat(self.path).st_ino

    # --- commands inside -----------------------------------------------------------------

    def argv(self, *cmd):
        """CMD made to run inside the namespace (nsenter enters the network namespace only, so
        mounts, /sys and the file system stay the test's own)."""
        if self.is_root:
            return list(cmd)
        return ["nsenter", f"--net={self.path}", "--", *cmd]

    def run(self, *cmd, input=None, check=False, timeout=60):
        """Runs CMD inside the namespace; returns the CompletedProcess (text)."""
        return run(self.argv(*cmd), input=input, check=check, timeout=timeout)

    def ip(self, *args):
        """`ip -n NAME ARGS` (the root namespace is refused: nothing is changed there)."""
        assert not self.is_root, "nothing is ever changed in the machine's own namespace"
        return run(["ip", "-n", self.name, *args])

    # --- sockets inside ------------------------------------------------------------------

    def call(self, fn, *args):
        """fn(*args) run on the namespace's own thread; returns or raises what it does."""
        with self._lock:
            if self._worker is None:
                worker = _Worker(self)
                worker.start()
                worker.entered.wait()
                if worker.error:
                    raise OSError(worker.error.errno,
                                  f"enter network namespace {self}: {worker.error}")
                self._worker = worker
            worker = self._worker
        result, done = [], threading.Event()
        worker.calls.put((fn, args, result, done))
        done.wait()
        ok, value = result[0]
        if not ok:
            raise value
        return value

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM):
        """A socket of this namespace, usable from any thread."""
        return self.call(socket.socket, family, type)

    def connect(self, address, timeout=10):
        """A TCP connection from inside the namespace to (host, port)."""
        sock = self.socket()
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def listen(self, address, backlog=128):
        """A listening TCP socket inside the namespace on (host, port); port 0 picks one."""
        sock = self.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    def http_connection(self, host, port, timeout=30, context=None):
        """An http.client connection (HTTPS when given an ssl context, checked against HOST)
        whose socket is made inside the namespace."""
        netns = self
        if context is None:
            class Conn(http.client.HTTPConnection):
                def connect(self):
                    self.sock = netns.connect((self.host, self.port), self.timeout)
            return Conn(host, port, timeout=timeout)

        class TLSConn(http.client.HTTPSConnection):
            def connect(self):
                sock = netns.connect((self.host, self.port), self.timeout)
                self.sock = context.wrap_socket(sock, server_hostname=self.host)
        return TLSConn(host, port, timeout=timeout, context=context)

    # --- the end -------------------------------------------------------------------------

    def close(self):
        """Ends the namespace's thread (it holds the namespace); a later call starts another."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker:
            worker.calls.put(None)
            worker.join(timeout=10)

    def delete(self):
        """Ends the thread and, for a namespace made here, `ip netns del` (once the last
        socket and process in it are gone the kernel frees it and every interface in it)."""
        self.close()
        if self.owned and os.path.exists(self.path):
            run(["ip", "netns", "del", self.name])


ROOT = Netns()


_LINGER_RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {1, 0}: close resets


def _reset(sock):
    """Closes a socket with a reset, as a port where nothing listens answers."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    sock.close()


def _abort(sock):
    """Ends a relayed socket at once: both ways shut (which wakes a thread blocked on it) and a
    reset instead of a FIN when it is closed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Pair:
    """One relayed connection: a client socket and the upstream one, a thread each way."""

    def __init__(self, relay, client, upstream):
        self.relay = relay
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.running = 2

    def pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            # A half-close goes through as one: the other way keeps flowing (a client that
            # has sent its request still reads the answer).
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except OSError:
            self.abort()
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self.client.close()
                self.upstream.close()
                self.relay._forget(self)

    def abort(self):
        _abort(self.client)
        _abort(self.upstream)


class Relay:
    """Listens in `listen_ns` on `listen` (host, port) and relays each connection to `target`
    (host, port) in `target_ns`, bytes both ways, until both sides have closed. A connection
    whose target cannot be reached is reset. stop() closes the listener and every connection."""

    def __init__(self, listen_ns, listen, target_ns, target):
        self.listen_ns = listen_ns
        self.target_ns = target_ns
        self.target = tuple(target)
        self.listener = listen_ns.listen(tuple(listen))
        self.address = self.listener.getsockname()
        self._lock = threading.Lock()
        self._pairs = set()
        self._threads = set()
        self._stopped = False
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"relay-{self.address[1]}")
        self._accepter.start()

    def __repr__(self):
        return (f"Relay({self.listen_ns}:{self.address[0]}:{self.address[1]} -> "
                f"{self.target_ns}:{self.target[0]}:{self.target[1]})")

    @property
    def port(self):
        return self.address[1]

    def connections(self):
        """How many relayed connections are open."""
        with self._lock:
            return len(self._pairs)

    def _spawn(self, fn, *args):
        thread = threading.Thread(target=self._tracked, args=(fn, *args), daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _tracked(self, fn, *args):
        try:
            fn(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was shut down by stop()
            if self._stopped:
                client.close()
                return
            self._spawn(self._serve, client)

    def _serve(self, client):
        try:
            upstream = self.target_ns.connect(self.target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            # Nothing listens there (a server being restarted): the client learns at once.
            _reset(client)
            return
        client.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(self, client, upstream)
        with self._lock:
            if self._stopped:
                stopped = True
            else:
                stopped = False
                self._pairs.add(pair)
        if stopped:
            client.close()
            upstream.close()
            return
        self._spawn(pair.pump, upstream, client)
        pair.pump(client, upstream)

    def _forget(self, pair):
        with self._lock:
            self._pairs.discard(pair)

    def stop(self, timeout=5):
        """Closes the listener and every connection; waits for the relay's threads."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            pairs = list(self._pairs)
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self._accepter.join(timeout)
        self.listener.close()
        for pair in pairs:
            pair.abort()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


def split_address(address):
    """"127.0.0.1:5000" -> ("127.0.0.1", 5000)."""
    host, port = address.rsplit(":", 1)
    return host, int(port)


class Lab:
    """The namespaces and relays made for one node (or one cluster). close() stops every relay
    first (their sockets hold namespaces), then ends and deletes the namespaces, last made
    first; it goes on past errors and raises the first at the end. Safe to call twice."""

    def __init__(self):
        self.namespaces = []
        self.relays = []

    def netns(self, prefix="ckube-e2e"):
        ns = Netns.create(prefix)
        self.namespaces.append(ns)
        return ns

    def relay(self, listen_ns, listen, target_ns, target=None):
        """A Relay from listen_ns (host, port) to target_ns (host, port), the same address
        when target is not given."""
        relay = Relay(listen_ns, listen, target_ns, target or listen)
        self.relays.append(relay)
        return relay

    def close(self):
        errors = []
        relays, self.relays = self.relays, []
        for relay in relays:
            try:
                relay.stop()
            except Exception as e:  # noqa: BLE001 - every relay is stopped, the first error raised
                errors.append(e)
        namespaces, self.namespaces = self.namespaces, []
        for ns in reversed(namespaces):
            try:
                ns.delete()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        if errors:
            raise errors[0]


def net_inodes_in_use():
    """The inodes of every network namespace a process or a thread of this machine is in."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                link = os.readlink(f"/proc/{pid}/task/{tid}/ns/net")
            except OSError:
                continue
            found.add(int(link[len("net:["):-1]))
    return found


def netns_names():
    """The names `ip netns list` shows."""
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
