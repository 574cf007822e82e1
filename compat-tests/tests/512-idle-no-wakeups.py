# An idle server does not wake up: after clients have used it (so its
# worker threads and their watcher exist), no thread of the server runs
# while nobody sends anything, whether clients stay connected or not.
import glob
import time
import nbdtest as t


def switches(pid):
    """Context switches of every thread of pid, by thread id."""
    out = {}
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        n = 0
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            continue
        out[st.split("/")[4]] = n
    return out


def wakeups_over(pid, secs):
    a = switches(pid)
    time.sleep(secs)
    b = switches(pid)
    return sum(b[k] - a.get(k, 0) for k in b)


def main():
    srv = t.Server("srv", t.NBDKIT, "memory", "64M")
    hs = [srv.connect() for _ in range(4)]
    for i, h in enumerate(hs):
        h.pwrite(b"x" * 65536, i * 65536)
        t.expect_eq("read back", b"x" * 65536, h.pread(65536, i * 65536))
    time.sleep(0.5)
    n = wakeups_over(srv.pid, 2.0)
    t.expect("server threads woke %d times in 2 s with 4 idle clients" % n, n <= 4)
    for h in hs:
        h.shutdown()
    time.sleep(0.5)
    n = wakeups_over(srv.pid, 2.0)
    t.expect("server threads woke %d times in 2 s with no clients" % n, n <= 4)


t.run(main)
