# nbdkit (1.32.5 and 1.44.1) sends structured error replies with no
# message, and so do we by default.  With --send-error-messages, the
# reason a plugin gave with nbdkit_error for a failed request reaches the
# client in the structured error reply (libnbd shows it as the "server
# message"): exactly the plugin's words (no "nbdkit: plugin[N]: error:"
# prefix, nothing else of the server's), at most 256 bytes.  Simple
# replies have no room for it: the errno alone, as in nbdkit 1.32.5.
import os
import re
import struct
import subprocess
import nbdtest as t

PLUG = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins"


def structured(srv, extended=False):
    c = srv.raw()
    c.greeting()
    c.client_flags()
    opt = t.OPT_EXTENDED_HEADERS if extended else t.OPT_STRUCTURED_REPLY
    t.expect_eq("option %d" % opt, t.REP_ACK, c.simple_option(opt)[0])
    t.expect_eq("GO", t.REP_ACK, c.go()[0])
    c.extended = extended
    return c


def error_of(c, cmd, off, n, payload=b""):
    if c.extended:
        c.ext_request(cmd, off, n, handle=7, payload=payload)
    else:
        c.request(cmd, off, n, handle=7, payload=payload)
    chunks = c.reply_chunks()
    t.expect_eq("one error chunk", (1, t.REPLY_TYPE_ERROR), (len(chunks), chunks[0]["type"]))
    err, mlen = struct.unpack(">IH", chunks[0]["payload"][:6])
    msg = chunks[0]["payload"][6:]
    t.expect_eq("message length field", mlen, len(msg))
    return err, msg.decode()


def libnbd_server_message(srv):
    """What libnbd 1.14 reports as the server's message for a failed read."""
    code = ("h.connect_uri(%r)\ntry:\n    h.pread(512, 512)\nexcept nbd.Error as e:\n"
            "    print('errno', e.errno)\n" % srv.uri())
    p = subprocess.run(["/usr/bin/nbdsh", "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, LIBNBD_DEBUG="1"), timeout=30)
    for line in p.stderr.splitlines():
        if "structured error server message: " in line:
            return p.stdout.strip(), line.split("structured error server message: ", 1)[1]
    return p.stdout.strip(), None


def main():
    errors = os.path.join(t.C_PLUGINS, "errors.so")
    if not os.path.exists(errors):
        raise t.Skip("errors.so not built (make c-plugins)")
    for name, binary in (("ref", t.REF_NBDKIT), ("ours", t.NBDKIT)):
        srv = t.Server("default-" + name, binary, errors, "mode=seterr")
        for ext in (False, True) if name == "ours" else (False,):
            c = structured(srv, ext)
            t.expect_eq("%s, by default: the error, no message" % name, (t.ENOSPC, ""),
                        error_of(c, t.CMD_READ, 512, 512))
            c.close()
    if t.is_reference():
        return
    for mode, errno, text in [("plain", t.EIO, "pread: failing without an errno"),
                              ("seterr", t.ENOSPC, "pread: failing with ENOSPC")]:
        srv = t.Server("errors-" + mode, t.NBDKIT, "--send-error-messages", errors,
                       "mode=" + mode)
        for ext in (False, True):
            c = structured(srv, ext)
            t.expect_eq("%s, %s: error and message" % (mode, "extended" if ext else "structured"),
                        (errno, text), error_of(c, t.CMD_READ, 512, 512))
            c.close()
        t.expect_eq("libnbd 1.14 shows the reason", ("errno %s" % {5: "EIO", 28: "ENOSPC"}[errno],
                                                     text), libnbd_server_message(srv))
        c = srv.raw().handshake()
        c.request(t.CMD_READ, 512, 512, handle=3)
        t.expect_eq("simple replies: the errno only", (errno, 3, b""), c.simple_reply(512))
        log = srv.log_text()
        # (named, as nbdkit does, after the worker thread: errors.N)
        t.expect("the log has the plugin's line with its prefix",
                 re.search(r"errors\.[0-9]+: error: " + re.escape(text), log), log)

    if not os.path.exists(PLUG + "/nbdkit-sh-plugin.so"):
        print("skipped the long message case: Debian's sh plugin is not installed")
        return
    script = os.path.join(t.T, "fail.sh")
    with open(script, "w") as f:
        f.write("#!/bin/bash\ncase \"$1\" in\n get_size) echo 1M ;;\n can_write) exit 0 ;;\n"
                " pread) echo \"EIO long: $(printf 'y%.0s' {1..3000})\" >&2; exit 1 ;;\n"
                # Reads its stdin first: Debian's sh plugin loses the script's
                # stderr when its write of the data meets EPIPE (a race seen
                # under C nbdkit too).
                " pwrite) cat >/dev/null; echo 'ENOSPC quota exceeded' >&2; exit 1 ;;\n"
                " *) exit 2 ;;\nesac\n")
    os.chmod(script, 0o755)
    srv = t.Server("sh", t.NBDKIT, "--send-error-messages", "sh", script)
    c = structured(srv)
    err, msg = error_of(c, t.CMD_READ, 0, 512)
    t.expect_eq("a 3000-byte reason: EIO, cut to 256 bytes", (t.EIO, 256), (err, len(msg)))
    t.expect("... its first 256 bytes", msg == (script + ": long: " + "y" * 3000)[:256], msg)
    err, msg = error_of(c, t.CMD_WRITE, 0, 512, payload=b"w" * 512)
    t.expect_eq("a failed write carries its reason too", (t.ENOSPC, script + ": quota exceeded"),
                (err, msg))


t.run(main)
