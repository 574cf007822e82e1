# FAST_ZERO sent (libnbd strict mode off) to an export that does not
# advertise it (the file plugin).  The protocol says the server should
# reply EINVAL.  KNOWN nbdkit 1.32.5 BUG: the reference aborts instead
# ("backend.c:725: backend_zero: Assertion `c->can_fast_zero == 1'
# failed"), killing the whole server.  Ours must reply EINVAL and live on.
# Skipped when the server under test is the reference, unless
# COMPAT_KNOWN_BUGS=1.
import os
import nbd
import nbdtest as t


def main():
    t.known_bug("assertion failure (abort) on unadvertised FAST_ZERO")
    img = os.path.join(t.T, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    srv = t.Server("file", t.NBDKIT, "file", img)
    other = srv.connect()
    other.pwrite(b"A" * 4096, 8192)
    h = srv.connect(strict=0)
    if h.can_fast_zero():
        raise t.Skip("the file plugin here advertises fast zero; nothing to test")
    t.expect_nbd_error("unadvertised FAST_ZERO", "EINVAL", h.zero, 4096, 0, nbd.CMD_FLAG_FAST_ZERO)
    t.expect_eq("same connection still works", b"A" * 4096, h.pread(4096, 8192))
    t.expect_eq("other connection still works", b"A" * 4096, other.pread(4096, 8192))
    srv.expect_alive()


t.run(main)
