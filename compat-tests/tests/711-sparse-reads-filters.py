# Sparse reads through filters: when every filter passes reads and extents
# through untouched (it has neither a .pread nor an .extents callback, as
# nozero and nofilter), a large structured read over zeroes is answered
# with hole chunks, and the bytes equal what C nbdkit 1.32.5 sends through
# the same filters.  A filter that intercepts reads or extents turns them
# off: the error filter still fails a read over zeroes as in C nbdkit, and
# the log filter logs no extents call the client never made.
import os
import subprocess
import nbdtest as t

MiB = 1 << 20
SIZE = 8 * MiB
WRITES = [(0, b"A" * 4096), (MiB + 12345, os.urandom(70000)), (5 * MiB, b"\0" * 65536),
          (7 * MiB - 3, b"end")]
PASS_THROUGH = ["--filter=nozero", "--filter=nofilter"]


def structured(srv):
    return srv.raw().handshake_ext(extended=False, structured=True)


def read(c, off, n):
    c.request(t.CMD_READ, off, n, handle=off + 1)
    return t.read_chunks_data(c.reply_chunks(), off, n)


def copy_sum(srv):
    """sha256 of the whole disk as nbdcopy (libnbd) reads it."""
    out = subprocess.run(["nbdcopy", srv.uri(), "-"], check=True, capture_output=True).stdout
    return subprocess.run(["sha256sum"], input=out, check=True,
                          capture_output=True).stdout.split()[0]


def main():
    ours = t.Server("ours", t.NBDKIT, *PASS_THROUGH, "memory", "8M")
    ref = t.Server("ref", t.REF_NBDKIT, *PASS_THROUGH, "memory", "8M")
    for s in (ref, ours):
        h = s.connect()
        for off, data in WRITES:
            h.pwrite(data, off)
    expected = ref.connect().pread(SIZE, 0)

    c = structured(ours)
    for off, n in ((0, 2 * MiB), (2 * MiB, 2 * MiB), (4 * MiB, 4 * MiB)):
        got, types = read(c, off, n)
        t.expect_eq("through nozero, nofilter: %d+%d as C nbdkit" % (off, n),
                    expected[off:off + n], got)
    got, types = read(c, 2 * MiB, 2 * MiB)
    t.expect_eq("... 2 MiB of zeroes is one hole chunk", [t.REPLY_TYPE_OFFSET_HOLE], types)
    got, types = read(c, 0, 2 * MiB)
    t.expect("... data and zeroes: data and hole chunks (%s)" % types,
             t.REPLY_TYPE_OFFSET_HOLE in types and t.REPLY_TYPE_OFFSET_DATA in types)
    t.expect_eq("nbdcopy of the whole disk: same bytes as C nbdkit", copy_sum(ref), copy_sum(ours))

    # The error filter intercepts reads: a read over zeroes still fails.
    args = ["--filter=error", "memory", "8M", "error-pread=EIO", "error-pread-rate=100%"]
    for name, binary in (("ours-error", t.NBDKIT), ("ref-error", t.REF_NBDKIT)):
        s = t.Server(name, binary, *args)
        c = structured(s)
        c.request(t.CMD_READ, 2 * MiB, 2 * MiB, handle=7)
        chunks = c.reply_chunks()
        t.expect_eq("%s: a read of zeroes through the error filter is one error chunk" % name,
                    [t.REPLY_TYPE_ERROR], [ch["type"] for ch in chunks])

    # The log filter intercepts extents: the client's reads are all it logs.
    logs = {}
    for name, binary in (("ours-log", t.NBDKIT), ("ref-log", t.REF_NBDKIT)):
        logfile = os.path.join(t.T, name + ".txt")
        s = t.Server(name, binary, "--filter=log", "memory", "8M", "logfile=" + logfile)
        c = structured(s)
        got, types = read(c, 2 * MiB, 2 * MiB)
        t.expect_eq("%s: through the log filter, zeroes are data" % name,
                    [t.REPLY_TYPE_OFFSET_DATA], types)
        c.close()
        s.stop()
        with open(logfile) as f:
            # "DATE TIME connection=N Read id=1 ...": the call's name.
            words = [line.split() for line in f]
            logs[name] = [w[i + 1] for w in words for i in range(len(w) - 1)
                          if w[i].startswith("connection=")]
    t.expect_eq("the log filter sees the same calls as under C nbdkit",
                logs["ref-log"], logs["ours-log"])
    t.expect("... and no extents call", "Extents" not in logs["ours-log"], logs["ours-log"])


t.run(main)
