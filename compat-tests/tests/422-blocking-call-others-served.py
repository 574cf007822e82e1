# A plugin whose reads are instant except one that blocks (gate.so: a
# read at 1 MiB waits for a file to appear).  While that read blocks:
#  - another client's reads are answered (two connections open);
#  - once the plugin has been seen to block, the same client's other
#    reads are answered too, i.e. a plugin call is not holding up the
#    server's reading of requests.
# The server may answer small requests of a fast plugin itself (on its
# event loop) when one client is connected; this checks the limits of that.
# Then all of it again with the server on one CPU, where (as on two) the
# event loop's thread runs several clients' batches itself and another
# thread must take the loop over when one of them blocks.
import os
import time
import nbd
import nbdtest as t

GATE = 1 << 20
PLUGIN = os.path.join(os.environ["C_PLUGINS"], "gate.so")


def expected(off, n=4096):
    return bytes([(off >> 12) & 0xff]) * n


def wait_file(name, h=None, secs=15):
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(os.path.join(t.T, name)):
            return
        if h is not None:
            h.poll(10)      # keep libnbd sending/receiving
        else:
            time.sleep(0.01)
    raise t.Fail("%s never appeared" % name)


def warm_up(h, n=3000):
    for i in range(n):
        off = (i % 200) * 4096
        if h.pread(4096, off) != expected(off):
            raise t.Fail("read at %d returned the wrong data" % off)


def gate_read(h):
    buf = nbd.Buffer(4096)
    return buf, h.aio_pread(buf, GATE)


def finish(h, buf, cookie, what):
    end = time.time() + 20
    while not h.aio_command_completed(cookie):
        if time.time() > end:
            raise t.Fail("%s: never completed" % what)
        h.poll(100)
    t.expect_eq("%s: data" % what, expected(GATE), buf.to_bytearray()[:4096])


def others_answered(h, what):
    """Reads on `h` complete while the gate is still closed."""
    bufs = []
    for i in range(1, 51):
        b = nbd.Buffer(4096)
        bufs.append((b, h.aio_pread(b, i * 8192), i * 8192))
    end = time.time() + 10
    for b, c, off in bufs:
        while not h.aio_command_completed(c):
            if time.time() > end:
                raise t.Fail("%s: reads not answered while the plugin blocks" % what)
            h.poll(100)
        if b.to_bytearray()[:4096] != expected(off):
            raise t.Fail("%s: wrong data at %d" % (what, off))
    t.expect("%s: 50 reads answered while another read blocks" % what,
             not os.path.exists(os.path.join(t.T, "release")))


def reset():
    for f in ("started", "release"):
        p = os.path.join(t.T, f)
        if os.path.exists(p):
            os.unlink(p)


def release():
    open(os.path.join(t.T, "release"), "w").close()


def scenario(srv):
    # 1. Two clients: B is answered while A's read blocks.
    a, b = srv.connect(), srv.connect()
    warm_up(a)
    reset()
    buf, c = gate_read(a)
    wait_file("started", a)
    others_answered(b, "other client")
    release()
    finish(a, buf, c, "blocked read, two clients")
    a.shutdown()
    b.shutdown()

    # 2. One client, fast for long enough to look like a plugin that never
    # blocks, then a read blocks.  The first time the server may be caught
    # out; from then on it must not be.
    a = srv.connect()
    warm_up(a)
    reset()
    buf, c = gate_read(a)
    wait_file("started", a)
    release()
    finish(a, buf, c, "first blocked read, one client")
    reset()
    warm_up(a, 200)
    buf, c = gate_read(a)
    wait_file("started", a)
    others_answered(a, "same client, after a blocking call")
    release()
    finish(a, buf, c, "second blocked read, one client")
    a.shutdown()

    srv.expect_alive()
    t.expect_eq("exit status after SIGTERM", 0, srv.stop())


def main():
    scenario(t.Server("gate", t.NBDKIT, PLUGIN, "dir=" + t.T))
    one = t.Server("gate1", t.NBDKIT, "-v", PLUGIN, "dir=" + t.T, prefix=["taskset", "-c", "0"])
    scenario(one)
    with open(one.logfile, errors="replace") as f:
        log = f.read()
    t.expect("one CPU: the blocked batch's thread handed the event loop on",
             "takes the loop over" in log)
    # NBDKIT_BATCH_WORKERS=1: batches on workers even on one CPU (as on
    # three or more): the same guarantees, and the loop is never handed on.
    w = t.Server("gate1w", t.NBDKIT, "-v", PLUGIN, "dir=" + t.T,
                 prefix=["taskset", "-c", "0", "env", "NBDKIT_BATCH_WORKERS=1"])
    scenario(w)
    with open(w.logfile, errors="replace") as f:
        log = f.read()
    t.expect("batches on workers: the loop stays on its thread",
             "takes the loop over" not in log and "a plugin call took" in log)


t.run(main)
