# nbdinfo --json of the server under test vs the reference nbdkit serving
# the same plugin: size, flags, contexts and export name must match, and
# a few absolute values are checked too (so the test can fail even when
# the server under test is the reference itself).
import json
import os
import subprocess
import nbdtest as t

KEYS = ["export-name", "export-size", "is_read_only", "can_flush", "can_fua",
        "can_trim", "can_zero", "can_fast_zero", "can_cache", "can_df",
        "can_multi_conn", "contexts", "block_size_minimum",
        "block_size_preferred", "block_size_maximum"]
TOP = ["protocol", "structured", "TLS"]

# (label, args, absolute expectations from nbdkit 1.32.5)
CASES = [
    ("memory 1G", ["memory", "1G"],
     {"export-size": 1 << 30, "is_read_only": False, "can_trim": True,
      "can_zero": True, "can_fast_zero": True, "can_fua": True, "can_flush": True,
      "can_multi_conn": True, "can_cache": True, "can_df": True,
      "contexts": ["base:allocation"]}),
    ("memory size=1M -r", ["-r", "memory", "size=1M"],
     {"export-size": 1 << 20, "is_read_only": True, "can_trim": False,
      "can_zero": False, "can_fast_zero": False, "can_fua": False}),
    ("file", ["file", "file=@FILE@"],
     {"export-size": 10 << 20, "is_read_only": False, "can_trim": True,
      "can_zero": True, "can_fua": True, "can_flush": True}),
    ("file -r", ["-r", "file", "@FILE@"],
     {"export-size": 10 << 20, "is_read_only": True, "can_zero": False}),
    ("null 1M", ["null", "1M"],
     {"export-size": 1 << 20, "is_read_only": False, "can_zero": True}),
    ("null size=0", ["null", "size=0"], {"export-size": 0}),
    ("pattern 1M", ["pattern", "1M"],
     {"export-size": 1 << 20, "is_read_only": True, "can_flush": False,
      "can_cache": True}),
]


def info(srv):
    out = subprocess.run(["nbdinfo", "--json", srv.uri()], capture_output=True, text=True)
    if out.returncode != 0:
        t.fail("nbdinfo --json %s failed (%d): %s" % (srv.name, out.returncode, out.stderr))
    d = json.loads(out.stdout)
    e = d["exports"][0]
    return {k: d.get(k) for k in TOP}, {k: e.get(k) for k in KEYS}


def main():
    for n, (label, args, absolute) in enumerate(CASES):
        results = []
        for who, binary in (("ref", t.REF_NBDKIT), ("ours", t.NBDKIT)):
            f = os.path.join(t.T, "%s%d.img" % (who, n))
            with open(f, "wb") as fh:
                fh.truncate(10 << 20)
            a = [x.replace("@FILE@", f) for x in args]
            srv = t.Server("%s%d" % (who, n), binary, *a)
            results.append(info(srv))
            srv.stop()
        (rtop, ref), (otop, ours) = results
        t.expect_eq("[%s] protocol/structured/TLS vs reference" % label, rtop, otop)
        for k in KEYS:
            if ref[k] != ours[k]:
                t.fail("[%s] %s differs from the reference\n  expected: %r\n  got:      %r\n"
                       "  reference: %s\n  ours:      %s" % (label, k, ref[k], ours[k], ref, ours))
        for k, v in absolute.items():
            t.expect_eq("[%s] %s" % (label, k), v, ours[k])
        print("ok: [%s] all of %s match the reference" % (label, ", ".join(k for k in KEYS if ref[k] is not None)))


t.run(main)
