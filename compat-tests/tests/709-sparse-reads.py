# Sparse reads: with structured replies, a large read over ranges the
# plugin's extents report as zero is answered with hole chunks for them;
# the client sees exactly the bytes C nbdkit 1.32.5 sends as data.  DF,
# small reads, simple replies and --no-sparse-reads get plain data.
import os
import nbdtest as t

MiB = 1 << 20
WRITES = [(0, b"A" * 4096), (MiB + 12345, os.urandom(70000)), (5 * MiB, b"\0" * 65536),
          (7 * MiB - 3, b"end")]


def fill(srv):
    h = srv.connect()
    for off, data in WRITES:
        h.pwrite(data, off)
    return h


def structured(srv):
    c = srv.raw()
    c.greeting()
    c.client_flags()
    t.expect_eq("STRUCTURED_REPLY", t.REP_ACK, c.simple_option(t.OPT_STRUCTURED_REPLY)[0])
    rtype, _ = c.go()
    t.expect_eq("GO", t.REP_ACK, rtype)
    return c


def read(c, off, n, flags=0):
    c.request(t.CMD_READ, off, n, handle=off + 1, flags=flags)
    return t.read_chunks_data(c.reply_chunks(), off, n)


def main():
    ours = t.Server("ours", t.NBDKIT, "memory", "8M")
    ref = t.Server("ref", t.REF_NBDKIT, "memory", "8M")
    off_ = t.Server("off", t.NBDKIT, "--no-sparse-reads", "memory", "8M")
    expected = fill(ref).pread(8 * MiB, 0)
    for s in (ours, off_):
        fill(s)
    h = ours.connect()
    t.expect("libnbd reads the whole disk as from nbdkit 1.32.5",
             h.pread(8 * MiB, 0) == expected)

    c = structured(ours)
    got, types = read(c, 0, 2 * MiB)
    t.expect_eq("2 MiB over data, zeroes, data: bytes", expected[:2 * MiB], got)
    t.expect("... with hole chunks for the zeroes (%s)" % types,
             t.REPLY_TYPE_OFFSET_HOLE in types and t.REPLY_TYPE_OFFSET_DATA in types)
    got, types = read(c, 2 * MiB, 2 * MiB)
    t.expect_eq("2 MiB of zeroes: one hole chunk", [t.REPLY_TYPE_OFFSET_HOLE], types)
    t.expect_eq("... reading as zeroes", expected[2 * MiB:4 * MiB], got)
    got, types = read(c, 0, 2 * MiB, flags=t.FLAG_DF)
    t.expect_eq("DF: one data chunk", [t.REPLY_TYPE_OFFSET_DATA], types)
    t.expect_eq("DF: bytes", expected[:2 * MiB], got)
    got, types = read(c, 2 * MiB, 32768)
    t.expect_eq("a 32 KiB read of zeroes: data", [t.REPLY_TYPE_OFFSET_DATA], types)
    got, types = read(c, 5 * MiB - 100, 65536 + 200)
    t.expect_eq("written zeroes: bytes", expected[5 * MiB - 100:5 * MiB + 65636], got)
    got, types = read(c, 6 * MiB, 2 * MiB)
    t.expect_eq("the tail: bytes", expected[6 * MiB:], got)

    c = structured(off_)
    got, types = read(c, 0, 4 * MiB)
    t.expect_eq("--no-sparse-reads: one data chunk", [t.REPLY_TYPE_OFFSET_DATA], types)
    t.expect_eq("--no-sparse-reads: bytes", expected[:4 * MiB], got)

    c = ours.raw().handshake()
    c.request(t.CMD_READ, 2 * MiB, MiB, handle=9)
    t.expect_eq("simple replies: data as always", (0, 9, expected[2 * MiB:3 * MiB]),
                c.simple_reply(MiB))


t.run(main)
