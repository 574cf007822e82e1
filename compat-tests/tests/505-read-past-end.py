# Reads past the end and straddling it: a simple error reply with EINVAL
# and the request's handle, no data, and the connection goes on.
import nbdtest as t

SIZE = 128 << 20


def scenario(srv):
    c = srv.raw().handshake()
    t.expect_eq("size", SIZE, c.size)
    c.request(t.CMD_READ, SIZE, 512, handle=0xdeadbeef00000001)
    t.expect_eq("read past the end", (t.EINVAL, 0xdeadbeef00000001, b""), c.simple_reply(512))
    c.request(t.CMD_READ, SIZE - 512, 1024, handle=2)
    t.expect_eq("read straddling the end", (t.EINVAL, 2, b""), c.simple_reply(1024))
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=3)
    t.expect_eq("then a good read", (0, 3, t.GUARD), c.simple_reply(len(t.GUARD)))
    c.request(t.CMD_READ, SIZE - 512, 512, handle=4)
    t.expect_eq("read of the last 512 bytes", (0, 4, bytes(512)), c.simple_reply(512))
    c.request(t.CMD_DISC)
    t.expect("after NBD_CMD_DISC the server closes", c.wait_closed(5))
    c.close()


t.run(lambda: t.bad_input(scenario, log_lines=2))
