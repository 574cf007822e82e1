# A Python plugin serving extents the way virt-v2v's rhv-upload plugin does:
# the extents of the whole image are computed once and cached, the cache is
# dropped by pwrite, zero and trim, and each extents call yields the cached
# extents that overlap the request as (start, length, type) tuples.
#
# The image is a bytearray of size= bytes (default 8M) in 64 KiB blocks; a
# block is data when it holds a non-zero byte, else a hole that reads as
# zeroes (type 3).  It starts with a few scattered data blocks.
#
# The number of times the cache was (re)built is kept in builds=FILE if
# given, so a test can check that writes invalidate it.
import builtins

import nbdkit

API_VERSION = 2
BLK = 65536

size = 8 * 1024 * 1024
builds_file = None
disk = None
cache = None


def config(key, value):
    global size, builds_file
    if key == "size":
        size = nbdkit.parse_size(value)
    elif key == "builds":
        builds_file = value
    else:
        raise RuntimeError("unknown parameter %s" % key)


def config_complete():
    global disk
    disk = bytearray(size)
    for blk, byte in ((0, 1), (3, 2), (4, 3), (17, 4), (size // BLK - 1, 5)):
        start = blk * BLK
        if start < size:
            disk[start + 100:start + 200] = bytes([byte]) * 100


def open(readonly):
    return 1


def get_size(h):
    return size


def can_write(h):
    return True


def can_zero(h):
    return True


def can_trim(h):
    return True


def can_extents(h):
    return True


def pread(h, buf, offset, flags):
    buf[:] = disk[offset:offset + len(buf)]


def invalidate():
    global cache
    cache = None


def pwrite(h, buf, offset, flags):
    disk[offset:offset + len(buf)] = buf
    invalidate()


def zero(h, count, offset, flags):
    disk[offset:offset + count] = bytes(count)
    invalidate()


def trim(h, count, offset, flags):
    zero(h, count, offset, flags)


def whole_image_extents():
    out = []
    for start in range(0, size, BLK):
        length = min(BLK, size - start)
        kind = 0 if any(disk[start:start + length]) else 3
        if out and out[-1][2] == kind:
            s, l, k = out[-1]
            out[-1] = (s, l + length, k)
        else:
            out.append((start, length, kind))
    if builds_file:
        with builtins.open(builds_file, "a") as f:
            f.write("build\n")
    return out


def extents(h, count, offset, flags):
    global cache
    if cache is None:
        cache = whole_image_extents()
    end = offset + count
    for start, length, kind in cache:
        if start + length <= offset:
            continue
        if start >= end:
            break
        # Clip to the request, as the seed does.
        s = max(start, offset)
        e = min(start + length, end)
        yield (s, e - s, kind)
        if flags & nbdkit.FLAG_REQ_ONE:
            break
