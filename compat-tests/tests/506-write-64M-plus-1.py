# A write of 64 MiB + 1 bytes inside a 128 MiB disk.  nbdkit 1.32.5 reads
# and discards the payload, replies ENOMEM ("data request is too large
# (67108865 > 67108864)") and the connection goes on; nothing is written.
# A write of exactly 64 MiB is accepted.  A read of 64 MiB + 1 gets ENOMEM.
import nbdtest as t

N = (64 << 20) + 1


def scenario(srv):
    c = srv.raw(timeout=30).handshake()
    c.request(t.CMD_WRITE, 0, N, handle=0x600d)
    c.send(b"w" * N)
    t.expect_eq("write of 64 MiB + 1", (t.ENOMEM, 0x600d, b""), c.simple_reply())
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=2)
    t.expect_eq("then a read (the payload was skipped, nothing written)", (0, 2, t.GUARD),
                c.simple_reply(len(t.GUARD)))
    c.request(t.CMD_READ, 0, N, handle=3)
    t.expect_eq("read of 64 MiB + 1", (t.ENOMEM, 3, b""), c.simple_reply(N))
    # Exactly 64 MiB is fine (at 32 MiB, away from the guard and the hammer).
    payload = bytes([7]) * (64 << 20)
    c.request(t.CMD_WRITE, 32 << 20, 64 << 20, handle=4)
    c.send(payload)
    t.expect_eq("write of exactly 64 MiB", (0, 4, b""), c.simple_reply())
    c.request(t.CMD_READ, 32 << 20, 1 << 20, handle=5)
    t.expect_eq("it reads back", (0, 5, payload[:1 << 20]), c.simple_reply(1 << 20))
    c.close()


t.run(lambda: t.bad_input(scenario, size="192M", log_lines=2))
