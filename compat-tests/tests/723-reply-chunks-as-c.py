# The bytes of replies a client sees, chunk by chunk, against C nbdkit
# 1.32.5 with our fickle plugin (reads failing every second call):
#   - a failed read's structured error chunk is C's: the errno and no
#     message (ours carries the reason only with --send-error-messages);
#   - a read of a loaded plugin is one data chunk, as C sends it (never
#     hole chunks from its extents, which call everything zero);
#   - a client that negotiates extended headers (C nbdkit refuses them)
#     gets the same data and the same errors in extended framing.
import os
import nbdtest as t

MiB = 1 << 20


def replies(srv, extended=False):
    """Read 1 MiB at 0 four times: each reply as a list of (type, payload)
    with offsets made relative (extended headers echo the offset)."""
    c = srv.raw()
    c.handshake_ext(extended=extended, structured=not extended)
    out = []
    for i in range(4):
        if extended:
            c.ext_request(t.CMD_READ, 0, MiB, handle=i + 1)
        else:
            c.request(t.CMD_READ, 0, MiB, handle=i + 1)
        out.append([(ch["type"], ch["payload"]) for ch in c.reply_chunks()])
    c.close()
    return out


def main():
    fickle = os.path.join(t.C_PLUGINS, "fickle.so")
    if not os.path.exists(fickle):
        raise t.Skip("fickle.so not built (make c-plugins)")
    args = (fickle, "size=4M", "readfail=true", "stale=true")
    ref = t.Server("ref", t.REF_NBDKIT, *args)
    want = replies(ref)
    t.expect_eq("C nbdkit: data, error, data, error",
                [t.REPLY_TYPE_OFFSET_DATA, t.REPLY_TYPE_ERROR] * 2,
                [r[0][0] for r in want])
    t.expect_eq("C nbdkit's error chunk: EIO, no message", (5).to_bytes(4, "big") + bytes(2),
                want[1][0][1])
    ours = t.Server("ours", t.NBDKIT, *args)
    t.expect("ours: the same chunks, byte for byte", replies(ours) == want)
    if t.is_reference():
        return
    ext = t.Server("ext", t.NBDKIT, *args)
    t.expect("ours with extended headers: the same chunks", replies(ext, extended=True) == want)
    msgs = t.Server("msgs", t.NBDKIT, "--send-error-messages", *args)
    got = replies(msgs)
    t.expect_eq("--send-error-messages: the reason in the error chunk",
                (5).to_bytes(4, "big") + len(b"fickle: read 2 failed").to_bytes(2, "big")
                + b"fickle: read 2 failed", got[1][0][1])


t.run(main)
