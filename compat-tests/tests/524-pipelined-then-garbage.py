# Requests pipelined and then garbage: C nbdkit 1.32.5 aborts on an
# assertion here (the connection is torn down while its requests are in
# flight).  The server must answer or drop those requests, close the
# connection with one log line for the bad magic, and keep serving
# everyone else (the harness checks the other client's data and the log).
import struct
import nbdtest as t


def scenario(srv):
    for round_ in range(5):
        c = srv.raw(timeout=10).handshake()
        reqs = b"".join(struct.pack(">IHHQQI", t.REQUEST_MAGIC, 0, t.CMD_READ, i + 1,
                                    (i % 64) * 65536, 65536) for i in range(32))
        writes = b"".join(struct.pack(">IHHQQI", t.REQUEST_MAGIC, 0, t.CMD_WRITE, 100 + i,
                                      (4 << 20) + i * 4096, 4096) + b"\x33" * 4096
                          for i in range(8))
        c.send(reqs + writes + b"\xde\xad\xbe\xef" * 64)
        t.expect("round %d: the server closes the connection" % round_, c.wait_closed(10))
        c.close()


def main():
    t.known_bug("aborts (Assertion in server/protocol.c or connections.c) when pipelined "
                "requests are followed by garbage")
    t.bad_input(scenario, log_lines=5)


t.run(main)
