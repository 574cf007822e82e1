# trim, zero (plain, NO_HOLE, FUA, FAST_ZERO), cache and block_status
# (with and without REQ_ONE) on memory and file, with and without
# structured replies (block_status needs them).
import os
import nbd
import nbdtest as t

SIZE = 4 << 20
HOLE_ZERO = nbd.STATE_HOLE | nbd.STATE_ZERO


def extents(h, length, offset, flags=0):
    got = []

    def cb(meta, off, ents, err):
        if meta == nbd.CONTEXT_BASE_ALLOCATION:
            got.extend(zip(ents[0::2], ents[1::2]))
        return 0
    h.block_status(length, offset, cb, flags)
    return got


def check_extents(label, ents, offset, length):
    total = sum(n for n, _ in ents)
    t.expect("%s: extents are non-empty and start at the request" % label, len(ents) > 0 and total > 0,
             "got %r" % ents)
    t.expect("%s: extents do not run past the end of the disk" % label, offset + total <= SIZE,
             "offset %d, extents %r" % (offset, ents))


def main():
    rnd = os.urandom(SIZE)
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
            h = srv.connect(structured=structured, meta=["base:allocation"])
            h.pwrite(rnd, 0)
            t.expect("%s: written" % label, h.pread(SIZE, 0) == rnd)

            h.trim(1 << 20, 1 << 20)
            # A trimmed area reads as zeroes on both plugins (memory frees
            # it, file punches a hole).
            t.expect_eq("%s: trimmed MiB reads as zeroes" % label, bytes(1 << 20), h.pread(1 << 20, 1 << 20))
            h.trim(4096, 0, nbd.CMD_FLAG_FUA)
            t.expect_eq("%s: FUA trim reads as zeroes" % label, bytes(4096), h.pread(4096, 0))

            h.zero(65536, 2 << 20)
            h.zero(65536, (2 << 20) + 65536, nbd.CMD_FLAG_NO_HOLE)
            h.zero(1000, 3 << 20 | 5, nbd.CMD_FLAG_FUA)        # unaligned
            t.expect_eq("%s: zeroed 128K reads as zeroes" % label, bytes(131072), h.pread(131072, 2 << 20))
            t.expect("%s: bytes around the unaligned zero are intact" % label,
                     h.pread(5, 3 << 20) == rnd[3 << 20:(3 << 20) + 5] and
                     h.pread(100, (3 << 20) + 1005) == rnd[(3 << 20) + 1005:(3 << 20) + 1105])
            t.expect_eq("%s: unaligned zeroed range" % label, bytes(1000), h.pread(1000, (3 << 20) + 5))
            if h.can_fast_zero():
                h.zero(65536, 2 << 20, nbd.CMD_FLAG_FAST_ZERO)
                t.expect_eq("%s: FAST_ZERO (advertised) zeroes" % label, bytes(65536), h.pread(65536, 2 << 20))

            h.cache(1 << 20, 0)
            h.cache(SIZE, 0)
            print("ok: %s: cache of part and all of the disk" % label)
            t.expect("%s: data unchanged after cache" % label, h.pread(4096, 8192) == rnd[8192:12288])

            if structured:
                t.expect_eq("%s: base:allocation negotiated" % label, True,
                            h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))
                ents = extents(h, SIZE, 0)
                check_extents("%s: whole disk" % label, ents, 0, SIZE)
                # Data at 3 MiB + 2 MiB..: the first extent at 3.5 MiB must
                # not claim a hole+zero for data we wrote there.
                e = extents(h, 65536, (3 << 20) + 524288)
                t.expect("%s: written data is not reported as hole+zero" % label,
                         (e[0][1] & HOLE_ZERO) != HOLE_ZERO, "got %r" % e)
                e1 = extents(h, SIZE - 4096, 4096, nbd.CMD_FLAG_REQ_ONE)
                t.expect_eq("%s: REQ_ONE returns exactly one extent" % label, 1, len(e1))
                t.expect("%s: REQ_ONE extent stays within the request" % label,
                         e1[0][0] <= SIZE - 4096, "got %r" % e1)
                # Zero the whole disk; memory must then report it all as
                # hole+zero (the reference does); file reports zero at least.
                h.zero(SIZE, 0)
                ents = extents(h, SIZE, 0)
                check_extents("%s: after zeroing everything" % label, ents, 0, SIZE)
                t.expect("%s: zeroed disk reports the zero flag" % label,
                         all(f & nbd.STATE_ZERO for _, f in ents), "got %r" % ents)
                if plugin == "memory":
                    t.expect("%s: zeroed memory disk reports hole+zero" % label,
                             all(f == HOLE_ZERO for _, f in ents), "got %r" % ents)
                    t.expect_eq("%s: ... covering the whole disk" % label, SIZE, sum(n for n, _ in ents))
                t.expect_eq("%s: zeroed disk reads as zeroes" % label, bytes(SIZE), h.pread(SIZE, 0))
            else:
                t.expect_eq("%s: no meta context without structured replies" % label, False,
                            h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))
            h.shutdown()
            t.expect_eq("%s: exit status after SIGTERM" % label, 0, srv.stop())


t.run(main)
