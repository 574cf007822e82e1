# The server's own checks (libnbd's strict mode off, so requests reach the
# server): out-of-range requests, bad flags, writes on a read-only export,
# structured-only requests without structured replies.  Each must fail
# with the errno nbdkit 1.32.5 gives, and the connection must go on.
import os
import nbd
import nbdtest as t

SIZE = 1 << 20


def still_works(h, label, data):
    t.expect("%s: connection still works afterwards" % label, h.pread(len(data), 0) == data)


def main():
    data = os.urandom(4096)
    noop = lambda *a: 0
    for structured in (True, False):
        s = "structured=%s" % structured
        srv = t.Server("rw-%d" % structured, t.NBDKIT, "memory", "size=%d" % SIZE)
        h0 = srv.connect(structured=structured)
        h0.pwrite(data, 0)
        h0.shutdown()

        # libnbd itself refuses a read past the end (client side).
        h = srv.connect(structured=structured)
        t.expect_nbd_error("%s: strict libnbd, read past the end" % s, "EINVAL", h.pread, 512, SIZE)
        h.shutdown()

        h = srv.connect(structured=structured, strict=0)
        cases = [
            ("read past the end", "EINVAL", h.pread, 512, SIZE),
            ("read straddling the end", "EINVAL", h.pread, 1024, SIZE - 512),
            ("read of length 0", "EINVAL", h.pread, 0, 0),
            ("read of 32 MiB + 512 (over the maximum)", "EINVAL", h.pread, (32 << 20) + 512, 0),
            ("write past the end", "ENOSPC", h.pwrite, b"x" * 512, SIZE),
            ("write straddling the end", "ENOSPC", h.pwrite, b"x" * 1024, SIZE - 512),
            ("trim past the end", "EINVAL", h.trim, 4096, SIZE),
            ("zero past the end", "ENOSPC", h.zero, 4096, SIZE),
            ("cache past the end", "EINVAL", h.cache, 4096, SIZE),
            ("block_status past the end", "EINVAL", h.block_status, 4096, SIZE, noop),
        ]
        if not structured:
            cases += [
                ("read with DF without structured replies", "EINVAL", h.pread, 512, 0, nbd.CMD_FLAG_DF),
                ("block_status without structured replies", "EINVAL", h.block_status, 4096, 0, noop),
            ]
        for label, err, fn, *args in cases:
            t.expect_nbd_error("%s: %s" % (s, label), err, fn, *args)
            still_works(h, "%s: %s" % (s, label), data)
        t.expect_eq("%s: nothing written past the end by the failed writes" % s, bytes(512), h.pread(512, SIZE - 512))
        h.shutdown()
        srv.expect_alive()
        srv.stop()

        # Read-only: writes, trims and zeroes fail with EPERM; reads, flush
        # and cache work.
        ro = t.Server("ro-%d" % structured, t.NBDKIT, "-r", "memory", "size=%d" % SIZE)
        h = ro.connect(structured=structured, strict=0)
        t.expect_eq("%s: -r is read-only" % s, True, h.is_read_only())
        for label, fn, *args in [("write", h.pwrite, b"x" * 512, 0),
                                 ("FUA write", h.pwrite, b"x" * 512, 0, nbd.CMD_FLAG_FUA),
                                 ("write past the end", h.pwrite, b"x" * 512, SIZE),
                                 ("trim", h.trim, 4096, 0),
                                 ("zero", h.zero, 4096, 0),
                                 ("NO_HOLE zero", h.zero, 4096, 0, nbd.CMD_FLAG_NO_HOLE)]:
            t.expect_nbd_error("%s: -r: %s" % (s, label), "EPERM", fn, *args)
            still_works(h, "%s: -r: %s" % (s, label), bytes(4096))
        # nbdkit accepts FUA on a read where FUA is advertised, but with -r
        # FUA is not advertised, and the flag is refused.
        t.expect_nbd_error("%s: -r: read with the FUA flag" % s, "EINVAL", h.pread, 512, 0, nbd.CMD_FLAG_FUA)
        h.flush()
        h.cache(4096, 0)
        print("ok: %s: -r: flush and cache work" % s)
        h.shutdown()
        ro.expect_alive()
        ro.stop()


t.run(main)
