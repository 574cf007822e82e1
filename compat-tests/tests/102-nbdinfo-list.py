# nbdinfo --list (NBD_OPT_LIST) against the server under test and the
# reference: the same export names, and the details of each.
import json
import subprocess
import nbdtest as t


def listing(srv):
    out = subprocess.run(["nbdinfo", "--list", "--json", srv.uri()], capture_output=True, text=True)
    if out.returncode != 0:
        t.fail("nbdinfo --list %s failed (%d): %s" % (srv.name, out.returncode, out.stderr))
    d = json.loads(out.stdout)
    return [{k: v for k, v in e.items() if k not in ("uri", "content")} for e in d["exports"]]


def text_listing(srv):
    out = subprocess.run(["nbdinfo", "--list", srv.uri()], capture_output=True, text=True)
    if out.returncode != 0:
        t.fail("nbdinfo --list %s failed (%d): %s" % (srv.name, out.returncode, out.stderr))
    return [l.replace(srv.sock, "SOCK") for l in out.stdout.splitlines()]


def main():
    for label, args in (("memory 1M", ["memory", "1M"]),
                        ("-e foo memory 1M", ["-e", "foo", "memory", "1M"]),
                        ("-r pattern 2M", ["-r", "pattern", "2M"])):
        ref = t.Server("ref", t.REF_NBDKIT, *args)
        ours = t.Server("ours", t.NBDKIT, *args)
        r, o = listing(ref), listing(ours)
        t.expect_eq("[%s] nbdinfo --list --json vs reference" % label, r, o)
        t.expect_eq("[%s] nbdinfo --list text vs reference" % label, text_listing(ref), text_listing(ours))
        # nbdkit 1.32.5 lists one export, named "" (even with -e).
        t.expect_eq("[%s] export names listed" % label, [""], [e["export-name"] for e in o])
        ref.stop()
        ours.stop()


t.run(main)
