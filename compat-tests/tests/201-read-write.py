# pread, pwrite (plain and FUA) and flush through libnbd, with and without
# structured replies, on memory and file; data read back must match, and
# for file the bytes must really be in the file.
import os
import nbd
import nbdtest as t

SIZE = 8 << 20


def exercise(h, label, rnd):
    # Fresh disk reads as zeroes.
    t.expect_eq("%s: unwritten area reads as zeroes" % label, bytes(65536), h.pread(65536, SIZE - 65536))
    h.pwrite(rnd[:1 << 20], 0)
    h.pwrite(rnd[1 << 20:(1 << 20) + 4096], 3 << 20, nbd.CMD_FLAG_FUA)
    h.pwrite(b"\xab" * 1000, 12345)                # unaligned
    h.pwrite(rnd[:512], SIZE - 512)                # up to the very end
    h.flush()
    expect = bytearray(rnd[:1 << 20])
    expect[12345:13345] = b"\xab" * 1000
    t.expect("%s: 1 MiB at 0 (with an unaligned overwrite) reads back" % label,
             h.pread(1 << 20, 0) == bytes(expect))
    t.expect("%s: FUA write reads back" % label,
             h.pread(4096, 3 << 20) == rnd[1 << 20:(1 << 20) + 4096])
    t.expect("%s: last 512 bytes read back" % label, h.pread(512, SIZE - 512) == rnd[:512])
    t.expect("%s: an unaligned read across the overwrite" % label,
             h.pread(3000, 11000) == bytes(expect[11000:14000]))
    # Large single requests (32 MiB is nbdkit's maximum; use 4 MiB here).
    big = rnd[:4 << 20]
    h.pwrite(big, 4 << 20)
    t.expect("%s: 4 MiB in one request reads back" % label, h.pread(4 << 20, 4 << 20) == big)
    return expect


def main():
    rnd = os.urandom(8 << 20)
    for structured in (True, False):
        for plugin in ("memory", "file"):
            label = "%s, structured=%s" % (plugin, structured)
            name = "%s-%d" % (plugin, structured)
            if plugin == "memory":
                srv = t.Server(name, t.NBDKIT, "memory", "size=%d" % SIZE)
            else:
                img = os.path.join(t.T, name + ".img")
                with open(img, "wb") as f:
                    f.truncate(SIZE)
                srv = t.Server(name, t.NBDKIT, "file", img)
            h = srv.connect(structured=structured)
            t.expect_eq("%s: structured replies negotiated" % label, structured,
                        h.get_structured_replies_negotiated())
            t.expect_eq("%s: size" % label, SIZE, h.get_size())
            expect = exercise(h, label, rnd)
            h.shutdown()
            # A second connection sees the same data.
            h = srv.connect(structured=structured)
            t.expect("%s: data persists across connections" % label, h.pread(1 << 20, 0) == bytes(expect))
            h.shutdown()
            t.expect_eq("%s: exit status after SIGTERM" % label, 0, srv.stop())
            if plugin == "file":
                with open(img, "rb") as f:
                    data = f.read()
                t.expect("%s: the file holds the written bytes" % label,
                         data[:1 << 20] == bytes(expect) and data[4 << 20:8 << 20] == rnd[:4 << 20])


t.run(main)
