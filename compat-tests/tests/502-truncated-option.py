# A client sends 12 of the 16 bytes of an option header and hangs up.
import struct
import nbdtest as t


def scenario(srv):
    c = srv.raw()
    c.greeting()
    c.client_flags()
    c.send(struct.pack(">QI", t.IHAVEOPT, t.OPT_GO))
    c.close()


t.run(lambda: t.bad_input(scenario))
