# Oldstyle handshake under -o: nbdinfo sees protocol "oldstyle", the same
# flags as the reference, and data can be written and read back.
import json
import subprocess
import nbdtest as t

KEYS = ["export-size", "is_read_only", "can_flush", "can_fua", "can_trim",
        "can_zero", "can_fast_zero", "can_cache", "can_df", "can_multi_conn"]


def info(srv):
    out = subprocess.run(["nbdinfo", "--json", srv.uri()], capture_output=True, text=True)
    if out.returncode != 0:
        t.fail("nbdinfo --json %s failed (%d): %s" % (srv.name, out.returncode, out.stderr))
    d = json.loads(out.stdout)
    e = d["exports"][0]
    return d["protocol"], d["structured"], {k: e.get(k) for k in KEYS}


def main():
    for args in (["-o", "memory", "1M"], ["-o", "-r", "pattern", "1M"]):
        ref = t.Server("ref", t.REF_NBDKIT, *args)
        ours = t.Server("ours", t.NBDKIT, *args)
        r, o = info(ref), info(ours)
        t.expect_eq("%s: protocol" % args, "oldstyle", o[0])
        t.expect_eq("%s: structured replies" % args, False, o[1])
        t.expect_eq("%s: flags vs reference" % args, r[2], o[2])
        if "-r" not in args:
            h = ours.connect()
            t.expect_eq("oldstyle: protocol seen by libnbd", "oldstyle", h.get_protocol())
            h.pwrite(b"oldstyle!" * 100, 4096)
            t.expect_eq("oldstyle: read back", b"oldstyle!" * 100, h.pread(900, 4096))
            h.shutdown()
        else:
            # The raw oldstyle greeting: NBDMAGIC, the oldstyle magic, size, flags.
            c = ours.raw()
            import struct
            magic, old, size, gflags, eflags = struct.unpack(">QQQHH", c.recv_exact(28))
            t.expect_eq("oldstyle magic", (t.NBDMAGIC, t.OLDSTYLE_MAGIC), (magic, old))
            t.expect_eq("oldstyle size", 1 << 20, size)
            t.expect_eq("oldstyle read-only flag (bit 1) and has-flags (bit 0)", 3, eflags & 3)
            c.close()
        ref.stop()
        ours.stop()


t.run(main)
