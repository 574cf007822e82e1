# Option and export-name limits as C nbdkit 1.32.5's, checked with raw
# sockets against both servers: option payloads up to 64 MiB are read and
# answered (a SET_META_CONTEXT with 4000 queries, 76 KB, gets 4000
# contexts and an ACK; an unknown option with 64 MiB gets ERR_UNSUP), one
# byte more is "client option data too long" and a disconnect; export
# names are bytes: invalid UTF-8 is accepted (and reaches the plugin byte
# for byte: the info plugin serves its export name), NUL is refused
# (ERR_INVALID, or a disconnect for NBD_OPT_EXPORT_NAME), and so are
# names and queries over 4096 bytes.
# compat-timeout: 120
import struct
import nbdtest as t

OPT_INFO, OPT_SR, OPT_LIST_META, OPT_SET_META = 6, 8, 9, 10


def go_payload(name):
    return struct.pack(">I", len(name)) + name + struct.pack(">H", 0)


def meta_payload(queries, name=b""):
    return (struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries))
            + b"".join(struct.pack(">I", len(q)) + q for q in queries))


def option(srv, opt, data, sr=True):
    """Send one option on a fresh connection; the replies as a list of
    (type, payload) up to the final one, or 'closed'."""
    c = srv.raw(timeout=30)
    c.greeting()
    c.client_flags()
    if sr:
        c.send_option(OPT_SR)
        c.option_reply()
    try:
        c.send_option(opt, data)
        out = []
        while True:
            _, rtype, payload = c.option_reply()
            out.append((rtype, payload))
            if rtype == t.REP_ACK or rtype >= 1 << 31:
                # (ERR_ messages are not compared: ours says why.)
                if rtype >= 1 << 31:
                    out[-1] = (rtype, b"")
                return out
            if rtype == t.REP_INFO:
                continue
    except (t.Closed, ConnectionError):
        return "closed"
    finally:
        c.close()


def export_name_option(srv, name):
    c = srv.raw(timeout=10)
    c.greeting()
    c.client_flags()
    c.send_option(t.OPT_EXPORT_NAME, name)
    try:
        size, flags = struct.unpack(">QH", c.recv_exact(10))
        return ("opened", size)
    except (t.Closed, ConnectionError):
        return "closed"
    finally:
        c.close()


def read_info_export(srv, name):
    """The data the info plugin serves for export `name` (its name)."""
    c = srv.raw(timeout=10)
    c.greeting()
    c.client_flags()
    rtype, _ = c.go(name)
    if rtype != t.REP_ACK:
        return ("GO failed", rtype)
    c.request(t.CMD_READ, 0, c.size, handle=1)
    err, _, data = c.simple_reply(c.size)
    c.close()
    return data


CASES = [
    ("SET_META_CONTEXT with 4000 queries", OPT_SET_META, meta_payload([b"base:allocation"] * 4000)),
    ("LIST_META_CONTEXT with 4000 queries", OPT_LIST_META, meta_payload([b"base:allocation"] * 4000)),
    ("SET_META_CONTEXT, other and matching queries", OPT_SET_META,
     meta_payload([b"qemu:dirty-bitmap:x", b"base:allocation", b"\xff\xfe:", b"base:allocation"])),
    ("an unknown option with 1 MiB", 100, b"x" * (1 << 20)),
    ("an unknown option with 64 MiB", 100, b"x" * (64 << 20)),
    ("an unknown option with 64 MiB + 1", 100, b"x" * ((64 << 20) + 1)),
    ("GO, invalid UTF-8 name", t.OPT_GO, go_payload(b"\xff\xfe")),
    ("GO, name with NUL", t.OPT_GO, go_payload(b"a\0b")),
    ("INFO, name with NUL", OPT_INFO, go_payload(b"\0")),
    ("GO, 4096-byte name", t.OPT_GO, go_payload(b"x" * 4096)),
    ("GO, 4097-byte name", t.OPT_GO, go_payload(b"x" * 4097)),
    ("SET_META_CONTEXT, query with NUL", OPT_SET_META, meta_payload([b"base:\0"])),
    ("SET_META_CONTEXT, export name with NUL", OPT_SET_META, meta_payload([b"base:allocation"], b"a\0")),
    ("SET_META_CONTEXT, 5000-byte query", OPT_SET_META, meta_payload([b"x" * 5000])),
]


def summary(r):
    if r == "closed":
        return r
    return [(rtype, len(p), p[:24]) for rtype, p in r[-3:]], len(r)


def main():
    ours = t.Server("ours", t.NBDKIT, "memory", "1M")
    ref = t.Server("ref", t.REF_NBDKIT, "memory", "1M")
    for what, opt, data in CASES:
        t.expect_eq(what, summary(option(ref, opt, data)), summary(option(ours, opt, data)))
    for name in (b"\xff\xfe", b"a\0b", b"y" * 4096, b"y" * 4097):
        t.expect_eq("NBD_OPT_EXPORT_NAME %r" % name[:8], export_name_option(ref, name),
                    export_name_option(ours, name))
    ours.expect_alive()
    t.expect_eq("log lines for what nbdkit logs",
                sorted(l.split(": error: ", 1)[-1] for l in ref.log_text().splitlines()),
                sorted(l.split(": error: ", 1)[-1] for l in ours.log_text().splitlines()))
    # The plugin gets the name byte for byte.
    info = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-info-plugin.so"
    ours_i = t.Server("ours-info", t.NBDKIT, info, "mode=exportname")
    ref_i = t.Server("ref-info", t.REF_NBDKIT, info, "mode=exportname")
    for name in (b"\xff\xfe", b"caf\xc3\xa9", b"\xc3\x28/x"):
        got = read_info_export(ours_i, name)
        t.expect_eq("the plugin's nbdkit_export_name for %r" % name, name, got)
        t.expect_eq("the same as C nbdkit's", read_info_export(ref_i, name), got)


t.run(main)
