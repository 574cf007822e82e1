# A burst of 1000 clients connecting at once over TCP are all greeted.
# nbdkit listens with a backlog of SOMAXCONN (the kernel caps it at
# net.core.somaxconn); a backlog of 128 makes the kernel drop most of such
# a burst (ListenOverflows) and those clients are never greeted.
# compat-timeout: 60
import os
import resource
import selectors
import socket
import subprocess
import time
import nbdtest as t

N = 1000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * N + 100
    if hard < need:
        raise t.Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    if somaxconn < N:
        raise t.Skip("net.core.somaxconn is %d: the kernel caps any backlog below %d"
                     % (somaxconn, N))
    port = free_port()
    log = open("srv.log", "wb")
    srv = subprocess.Popen([t.NBDKIT, "-f", "-i", "127.0.0.1", "-p", str(port),
                            "memory", "1M"], stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > end or srv.poll() is not None:
                    t.fail("server did not listen on port %d" % port)
                time.sleep(0.05)
        time.sleep(0.2)
        sel = selectors.DefaultSelector()
        socks = []
        for _ in range(N):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        got = {}
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        done, closed = t.read_greetings(sel, got, 20)
        t.expect_eq("clients of a %d-connection burst greeted (closed: %d)" % (N, closed),
                    N, len(done))
        for s in socks:
            s.close()
        # The server is still well after all of them hang up.
        time.sleep(0.5)
        t.expect("server alive after the burst", srv.poll() is None)
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.settimeout(5)
        t.expect("a new client is greeted", c.recv(16) == b"NBDMAGICIHAVEOPT")
        c.close()
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()
        if os.path.exists("srv.log"):
            with open("srv.log", "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-10:]
            if tail:
                print("--- srv.log tail ---\n" + "\n".join(tail))


t.run(main)
