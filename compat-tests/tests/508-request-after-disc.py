# NBD_CMD_DISC followed at once by a read and a write: the server gets no
# reply out for them, executes nothing after DISC, and closes.
import nbdtest as t


def scenario(srv):
    c = srv.raw().handshake()
    c.request(t.CMD_DISC, handle=1)
    # The server may already have closed: a failed send is fine, a reply is not.
    try:
        c.request(t.CMD_WRITE, 0, 4096, handle=2, payload=b"D" * 4096)
        c.request(t.CMD_READ, 0, 512, handle=3)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = b""
    c.s.settimeout(5)
    try:
        while True:
            chunk = c.s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except OSError as e:
        t.fail("the server did not close the connection after NBD_CMD_DISC: %r" % e)
    t.expect_eq("bytes the server sent after NBD_CMD_DISC", b"", got)
    c.close()


t.run(lambda: t.bad_input(scenario, log_lines=0))
