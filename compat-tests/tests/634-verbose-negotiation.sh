#!/usr/bin/env bash
# -v line for line as nbdkit 1.32.5's through the rest of negotiation:
# a client in libnbd's option mode (LIST twice, LIST_META_CONTEXT with
# several queries, INFO for another export, then GO), the same under
# --no-sr, the oldstyle handshake (-o), a client that ends with
# NBD_OPT_EXPORT_NAME (options sent by hand), STARTTLS with pre-shared keys under
# --tls=require, and qemu-img (whose NBD_OPT_EXTENDED_HEADERS, which
# 1.32.5 refuses and we accept, prints lines of its own: left out).
source "$COMPAT_LIB"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || skip "no python3-libnbd"

cat >opt.py <<'PY'
import nbd, os
h = nbd.NBD()
h.set_opt_mode(True)
for m in ["base:", "base:allocation", "qemu:dirty-bitmap:x"]:
    h.add_meta_context(m)
h.connect_uri(os.environ["uri"])
h.opt_list(lambda n, d: 0)
try:
    h.opt_list(lambda n, d: 0)
except nbd.Error:
    pass
try:
    h.opt_list_meta_context(lambda n: 0)
except nbd.Error:
    pass                # --no-sr: libnbd does not ask
h.set_export_name("foo")
h.opt_info()
h.set_export_name("")
h.opt_go()
h.pread(512, 0)
h.shutdown()
PY
CLIENTS=('/usr/bin/python3 opt.py')
same_verbose "option mode" memory 1M
same_verbose "option mode, --no-sr" --no-sr memory 1M

CLIENTS=('nbdsh -c "h.connect_uri(\"$uri\")" -c "h.pread(512, 0)"')
same_verbose "oldstyle" -o memory 1M
# By hand: an unknown option, STARTTLS without TLS, STRUCTURED_REPLY with
# a payload then without, SET_META_CONTEXT for another export (dropped,
# with nbdkit's line, when that export is not the one opened), INFO with
# NBD_INFO_NAME and an unknown request, then NBD_OPT_EXPORT_NAME and a
# read.
cat >raw.py <<'PY'
import os, struct
import nbdtest as t
c = t.RawClient(os.environ["uri"].split("socket=")[1])
c.greeting()
c.client_flags()
def opt(o, data=b""):
    c.send_option(o, data)
    while True:
        _, rtype, _ = c.option_reply()
        if rtype == t.REP_ACK or rtype & 0x80000000:
            return rtype
q = b"base:allocation"
opt(42, b"zz")
opt(5)
opt(8, b"x")
opt(8)
opt(10, struct.pack(">I", 1) + b"a" + struct.pack(">II", 1, len(q)) + q)
opt(6, struct.pack(">IH", 0, 3) + struct.pack(">HHH", 1, 9, 0))
c.send_option(1, b"")
c.recv_exact(10)
c.request(0, 0, 512)
c.reply_chunks()
c.request(2)
c.wait_closed()
PY
CLIENTS=('/usr/bin/python3 raw.py')
same_verbose "options by hand, NBD_OPT_EXPORT_NAME" memory 1M

if command -v psktool >/dev/null; then
    psktool -u alice -p keys.psk >/dev/null 2>&1 || fail "psktool"
    CLIENTS=('nbdinfo "nbds+unix://alice@/?socket=${uri#*socket=}&tls-psk-file=$PWD/keys.psk"')
    same_verbose "TLS (PSK)" --tls=require --tls-psk="$PWD/keys.psk" memory 1M
else
    echo "no psktool: TLS case not run"
fi

CLIENTS=('qemu-img info "$uri"' 'qemu-img convert -O raw "$uri" out.raw')
VERBOSE_DROP='NBD_OPT_EXTENDED_HEADERS|unknown \(0xb\)|NBD_OPT_STRUCTURED_REPLY'
same_verbose "qemu-img" memory 1M
