# A client sends a write header and half its payload, then vanishes.
# Nothing of it may be written; the server logs one line.
import nbdtest as t


def scenario(srv):
    c = srv.raw().handshake()
    c.request(t.CMD_WRITE, 0, 65536, handle=1)
    c.send(b"V" * 32768)
    c.close()


t.run(lambda: t.bad_input(scenario))
