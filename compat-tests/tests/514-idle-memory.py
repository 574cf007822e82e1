# Idle connections cost little and give their memory back when they close:
# 300 clients each write 64 KiB and read 256 KiB, then sit idle.  Our RSS
# per idle connection is at most C nbdkit's (measured here the same way),
# and once they all hang up the RSS is back near where it started.
# compat-timeout: 120
import resource
import time
import nbdtest as t

N = 300


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(name, binary):
    srv = t.Server(name, binary, "memory", "1G")
    time.sleep(0.3)
    start = rss_kib(srv.pid)
    cs = []
    for _ in range(N):
        c = srv.raw(timeout=30).handshake()
        c.request(t.CMD_WRITE, 0, 65536, handle=1, payload=b"x" * 65536)
        err = c.simple_reply()[0]
        if err:
            t.fail("write failed with error %d" % err)
        c.request(t.CMD_READ, 0, 262144, handle=2)
        c.simple_reply(262144)
        cs.append(c)
    time.sleep(1)
    idle = rss_kib(srv.pid)
    for c in cs:
        c.close()
    time.sleep(2)
    after = rss_kib(srv.pid)
    srv.stop()
    per = (idle - start) / N
    print("%s: RSS %d KiB at start, %d KiB with %d idle clients (%.0f KiB each), "
          "%d KiB after they left" % (name, start, idle, N, per, after))
    return start, per, after


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4 * N), max(hard, 4 * N)))
    start, per, after = measure("ours", t.NBDKIT)
    t.expect("RSS after all clients left (%d KiB) within 8 MiB of the start (%d KiB)"
             % (after, start), after - start <= 8192)
    if t.is_reference():
        return
    _, ref_per, _ = measure("ref", t.REF_NBDKIT)
    t.expect("RSS per idle connection %.0f KiB <= C nbdkit's %.0f KiB" % (per, ref_per),
             per <= ref_per)


t.run(main)
