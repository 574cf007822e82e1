# Print the base:allocation block status at awkward offsets and counts, with
# and without REQ_ONE, for comparing two servers:
#   python3 probe-block-status.py URI [ALIGN]
# With ALIGN, offsets and counts are multiples of it (for plugins whose
# answers are granular to their pages).
import sys

import nbd

h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(sys.argv[1])
size = h.get_size()
out = []


def cb(meta, off, entries, err):
    out.append((off, list(entries)))
    return 0


align = int(sys.argv[2]) if len(sys.argv) > 2 else 1
offsets = {0, 1, 511, 4096, 65535, 65536 + 17, size // 3, size - 1}
for off in sorted({o // align * align for o in offsets}):
    if off >= size:
        continue
    for cnt in (1, 4096, 200000, size - off):
        cnt = min(cnt, size - off)
        cnt = max(align, cnt // align * align)
        for flags in (0, nbd.CMD_FLAG_REQ_ONE):
            out.clear()
            try:
                h.block_status(cnt, off, cb, flags)
                r = out
            except nbd.Error as e:
                r = "error %s" % e.errno
            print(off, cnt, flags, r)
h.shutdown()
