# Sparse reads only where extents are exact.  C nbdkit calls pread for
# every read, so a plugin whose extents are stale (computed once, never
# updated by writes) or whose reads fail where its extents say zero shows
# its clients the written data or the error.  Ours must too, by default:
# reads are answered from extents only for our built-ins, whose extents
# are their data.  --sparse-reads=all takes the risk for any plugin and
# still sends hole chunks.
import subprocess
import nbdtest as t

KiB, MiB = 1024, 1 << 20

# Extents computed at start: the whole disk "hole,zero", whatever is
# written later.
STALE = """
API_VERSION = 2
disk = bytearray(4 * 1024 * 1024)
def open(readonly): return 1
def get_size(h): return len(disk)
def can_write(h): return True
def can_extents(h): return True
def pread(h, buf, offset, flags): buf[:] = disk[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags): disk[offset:offset + len(buf)] = buf
def extents(h, count, offset, flags): return [(0, len(disk), 3)]
"""

# Every read touching 1M..2M fails with EIO; extents call all of it zero.
FAILING = """
import errno
import nbdkit
API_VERSION = 2
def open(readonly): return 1
def get_size(h): return 4 * 1024 * 1024
def can_extents(h): return True
def pread(h, buf, offset, flags):
    if offset < 2 * 1024 * 1024 and offset + len(buf) > 1024 * 1024:
        nbdkit.set_error(errno.EIO)
        raise RuntimeError("bad sector")
    buf[:] = bytes(len(buf))
def extents(h, count, offset, flags): return [(0, 4 * 1024 * 1024, 3)]
"""


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def qemu_io(srv, *cmds, ro=False):
    """qemu-io's status and output less its timing lines and the socket."""
    args = ["qemu-io", "-f", "raw"] + (["-r"] if ro else [])
    for c in cmds:
        args += ["-c", c]
    rc, out = run(*args, srv.uri())
    out = "\n".join(l for l in out.splitlines() if " ops; " not in l)
    return rc, out.replace(srv.sock, "SOCK")


def structured_read(srv, off, n):
    c = srv.raw().handshake_ext(extended=False, structured=True)
    c.request(t.CMD_READ, off, n, handle=7)
    return c.reply_chunks()


def main():
    with open("stale.py", "w") as f:
        f.write(STALE)
    with open("failing.py", "w") as f:
        f.write(FAILING)

    # 1. Stale extents: what a client wrote reads back.
    ref = t.Server("ref-stale", t.REF_NBDKIT, "python", "stale.py")
    ours = t.Server("ours-stale", t.NBDKIT, "python", "stale.py")
    cmds = ("write -P 0x33 1M 64k", "read -P 0x33 1M 64k", "write -P 0x44 2M 1M",
            "read -P 0x44 2M 1M", "read -P 0 0 1M")
    want = qemu_io(ref, *cmds)
    t.expect_eq("C nbdkit reads back what qemu-io wrote", 0, want[0])
    t.expect_eq("ours: qemu-io write then read (status, output) as C nbdkit",
                want, qemu_io(ours, *cmds))
    chunks = structured_read(ours, 2 * MiB, MiB)
    data, types = t.read_chunks_data(chunks, 2 * MiB, MiB)
    t.expect_eq("ours: a structured read of the written MiB is data",
                [t.REPLY_TYPE_OFFSET_DATA], types)
    t.expect_eq("... holding the written bytes", b"\x44" * MiB, data)
    h = ours.connect()
    t.expect_eq("libnbd reads the whole disk as from C nbdkit",
                ref.connect().pread(4 * MiB, 0), h.pread(4 * MiB, 0))

    # The opt-in answers from the (stale) extents: hole chunks, and the
    # risk it documents (the written bytes read as zeroes).
    ours_only = not t.is_reference()
    if ours_only:
        every = t.Server("all-stale", t.NBDKIT, "--sparse-reads=all", "python", "stale.py")
        rc, out = qemu_io(every, "write -P 0x33 1M 64k", "read -P 0x33 1M 64k")
        t.expect("--sparse-reads=all: the stale plugin loses the write (%r)" % out,
                 rc != 0 and "Pattern verification failed" in out)
        data, types = t.read_chunks_data(structured_read(every, MiB, 64 * KiB), MiB, 64 * KiB)
        t.expect_eq("--sparse-reads=all: one hole chunk", [t.REPLY_TYPE_OFFSET_HOLE], types)

    # 2. pread fails where extents say zero: the client sees the error.
    ref = t.Server("ref-fail", t.REF_NBDKIT, "python", "failing.py")
    ours = t.Server("ours-fail", t.NBDKIT, "python", "failing.py")
    for cmd in ("read 1M 64k", "read 1536k 512k", "read 0 64k"):
        want = qemu_io(ref, cmd, ro=True)
        t.expect_eq("qemu-io %s: as C nbdkit" % cmd, want, qemu_io(ours, cmd, ro=True))
    rc, out = qemu_io(ref, "read 1M 64k", ro=True)
    t.expect("C nbdkit fails the read in the bad range (%r)" % out,
             rc != 0 and "Input/output error" in out)
    for srv in (ref, ours):
        rc, out = run("nbdcopy", "--no-extents", srv.uri(), "null:")
        srv.copy = (rc != 0, "Input/output error" in out)
    t.expect_eq("nbdcopy --no-extents fails with EIO as from C nbdkit",
                ref.copy, ours.copy)
    t.expect_eq("... which does fail", (True, True), ref.copy)
    for srv in (ref, ours):
        c = srv.raw().handshake_ext(extended=False, structured=True)
        c.request(t.CMD_READ, MiB, 64 * KiB, handle=3)
        types = [ch["type"] for ch in c.reply_chunks()]
        t.expect_eq("%s: the structured read is an error chunk" % srv.name,
                    [t.REPLY_TYPE_ERROR], types)
    if not ours_only:
        return

    # 3. Our built-in memory plugin still sends holes (its extents are
    # exact), and Debian's memory .so through ours does not, by default.
    mem = t.Server("ours-mem", t.NBDKIT, "memory", "4M")
    _, types = t.read_chunks_data(structured_read(mem, 0, MiB), 0, MiB)
    t.expect_eq("built-in memory: one hole chunk", [t.REPLY_TYPE_OFFSET_HOLE], types)
    so = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so"
    memso = t.Server("ours-memso", t.NBDKIT, so, "4M")
    _, types = t.read_chunks_data(structured_read(memso, 0, MiB), 0, MiB)
    t.expect_eq("memory .so: data, as C nbdkit", [t.REPLY_TYPE_OFFSET_DATA], types)
    memso_all = t.Server("all-memso", t.NBDKIT, "--sparse-reads=all", so, "4M")
    _, types = t.read_chunks_data(structured_read(memso_all, 0, MiB), 0, MiB)
    t.expect_eq("memory .so with --sparse-reads=all: one hole chunk",
                [t.REPLY_TYPE_OFFSET_HOLE], types)
    off = t.Server("off-mem", t.NBDKIT, "--no-sparse-reads", "memory", "4M")
    _, types = t.read_chunks_data(structured_read(off, 0, MiB), 0, MiB)
    t.expect_eq("--no-sparse-reads: data", [t.REPLY_TYPE_OFFSET_DATA], types)


t.run(main)
