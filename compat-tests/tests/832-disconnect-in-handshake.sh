#!/usr/bin/env bash
# nbdkit_disconnect (1) called during the handshake (from .preconnect,
# .open, .can_write, .get_size: 1.44.1's eval plugin, a method exiting 6)
# ends the connection with no reply, as C nbdkit 1.44.1 does: the client
# sees the server hang up, and the next client is served.
source "$COMPAT_LIB"
need_ref144
EVAL=$(plugin144 eval)
export PATH=/usr/bin:$PATH
command -v nbdsh >/dev/null || skip "no nbdsh"

# What a client sees: connecting, then a read.  The client connects the
# socket itself and hands it to libnbd: nbd_connect_uri (libnbd 1.14)
# waits for the socket to be writable after connect(2), and if the
# server has already hung up by then (a loaded machine can keep the
# client from running that long, with C nbdkit as with this server), it
# takes the hang-up as an event its connecting state does not expect and
# fails with "Invalid argument" instead of reading the end of stream.
# Past connect(2) the two ways are the same.
cat >client.py <<'PY'
import socket
import sys
from urllib.parse import parse_qs, urlparse
import nbd
path = parse_qs(urlparse(sys.argv[1]).query)["socket"][0]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
h = nbd.NBD()
try:
    h.connect_socket(s.detach())
    h.pread(512, 0)
    print("served")
except nbd.Error as ex:
    print("refused:", ex.string.split(": ")[-1])
PY
for m in preconnect open can_write get_size; do
    # The method named exits 6 on the first connection only.
    args=(get_size='echo 1M' pread='dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null')
    if [ $m = get_size ]; then
        args=(pread='dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null')
    fi
    script="if [ -e \$tmpdir/done ]; then $( [ $m = get_size ] && echo 'echo 1M;' ) exit 0; fi; touch \$tmpdir/done; exit 6"
    [ $m = can_write ] && script="if [ -e \$tmpdir/done ]; then exit 0; fi; touch \$tmpdir/done; exit 6"
    run="/usr/bin/python3 $T/client.py \"\$uri\"; /usr/bin/python3 $T/client.py \"\$uri\""
    want=$("$REF144" -U - "$EVAL" "${args[@]}" "$m=$script" --run "$run" 2>/dev/null)
    got=$("$NBDKIT" -U - "$EVAL" "${args[@]}" "$m=$script" --run "$run" 2>/dev/null)
    expect_match "C nbdkit: the first client of $m hung up on (sanity)" "refused: server disconnected unexpectedly" "$want"
    expect_eq "disconnect in $m: what two clients see" "$want" "$got"
done
