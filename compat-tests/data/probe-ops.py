# Run a list of NBD requests on one connection, one at a time, and print
# what the client saw of each (data checksum or errno), for comparing two
# servers:
#   python3 probe-ops.py URI OP...
# OP is one word, fields separated by ':'
#   r:OFF:LEN            read (prints the md5 of the data)
#   w:OFF:LEN:BYTE[:fua] write LEN bytes of value BYTE (0-255)
#   z:OFF:LEN[:FLAGS]    write zeroes; FLAGS among fua,nohole,fast (joined by +)
#   t:OFF:LEN[:fua]      trim
#   f                    flush
#   c:OFF:LEN            cache
#   b:OFF:LEN[:reqone]   block status (base:allocation)
# Numbers may be written with suffixes k, M, G (powers of 1024).
import hashlib
import sys

import nbd


def num(s):
    mult = {"k": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(s[:-1], 0) * mult[s[-1]]
    return int(s, 0)


FLAGS = {"fua": nbd.CMD_FLAG_FUA, "nohole": nbd.CMD_FLAG_NO_HOLE,
         "fast": nbd.CMD_FLAG_FAST_ZERO, "reqone": nbd.CMD_FLAG_REQ_ONE}


def flags(fields, i):
    f = 0
    if len(fields) > i and fields[i]:
        for name in fields[i].split("+"):
            f |= FLAGS[name]
    return f


h = nbd.NBD()
# Every request goes to the server, even one breaking what it advertised:
# what is compared is the server's answer, not libnbd's checks.
h.set_strict_mode(0)
h.add_meta_context("base:allocation")
try:
    h.connect_uri(sys.argv[1])
except nbd.Error as e:
    # How libnbd words a refused connection races with the server closing.
    print("connect failed")
    sys.exit(1)


def run(op):
    fields = op.split(":")
    k = fields[0]
    if k == "f":
        h.flush()
        return "ok"
    off, n = num(fields[1]), num(fields[2])
    if k == "r":
        return "ok " + hashlib.md5(h.pread(n, off)).hexdigest()
    if k == "w":
        h.pwrite(bytes([num(fields[3])]) * n, off, flags(fields, 4))
        return "ok"
    if k == "z":
        h.zero(n, off, flags(fields, 3))
        return "ok"
    if k == "t":
        h.trim(n, off, flags(fields, 3))
        return "ok"
    if k == "c":
        h.cache(n, off)
        return "ok"
    if k == "b":
        seen = []

        def cb(meta, o, entries, err):
            seen.append((o, list(entries)))
            return 0
        h.block_status(n, off, cb, flags(fields, 3))
        return "ok %s" % seen
    raise SystemExit("probe-ops: unknown op " + op)


for op in sys.argv[2:]:
    try:
        r = run(op)
    except nbd.Error as e:
        r = "errno %s" % e.errno
    print(op, r)
try:
    h.shutdown()
except nbd.Error as e:
    print("shutdown errno", e.errno)
