# An option header claiming 4 GiB - 1 bytes of data: the server must not
# try to read (or allocate) it; nbdkit 1.32.5 logs "client option data
# too long" and closes the connection at once.
import nbdtest as t


def scenario(srv):
    for data in (b"", b"abcd" * 256):
        c = srv.raw()
        c.greeting()
        c.client_flags()
        c.send_option(t.OPT_GO, data, length=0xffffffff)
        t.expect("the server closes the connection (sent %d bytes of data)" % len(data), c.wait_closed(5))
        c.close()


t.run(lambda: t.bad_input(scenario, log_lines=2))
