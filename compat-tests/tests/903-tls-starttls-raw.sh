# STARTTLS on the wire, with a raw socket (Python's ssl for the TLS side),
# our server and C nbdkit alike: --tls=require answers every option but
# STARTTLS and ABORT with NBD_REP_ERR_TLS_REQD; --tls=off refuses STARTTLS
# by policy; a second STARTTLS inside TLS is invalid; options sent in the
# same packet after STARTTLS are never answered in plaintext; structured
# replies and meta contexts negotiated before STARTTLS are forgotten after
# it (CVE-2021-3716).
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"

cat >raw.py <<'PY'
import socket, ssl, struct, sys
sock, mode, ca = sys.argv[1], sys.argv[2], sys.argv[3]
IHAVEOPT = 0x49484156454f5054
names = {0x1: "ACK", 0x4: "META_CONTEXT", 0x80000001: "ERR_UNSUP", 0x80000002: "ERR_POLICY",
         0x80000003: "ERR_INVALID", 0x80000005: "ERR_TLS_REQD"}
def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data
def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b
def reply(s):
    _, o, t, l = struct.unpack(">QIII", exact(s, 20))
    exact(s, l)
    return "%d:%s" % (o, names.get(t, hex(t)))
def connect():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(10)
    exact(s, 18); s.sendall(struct.pack(">I", 3))
    return s
def tls(s):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca); ctx.check_hostname = False
    return ctx.wrap_socket(s, server_hostname="localhost")
meta = struct.pack(">II", 0, 1) + struct.pack(">I", 15) + b"base:allocation"
out = []
if mode == "require":
    s = connect()
    for o, d in [(3, b""), (6, b"\0" * 6), (7, b"\0" * 6), (8, b""), (9, meta), (10, meta), (99, b"x")]:
        s.sendall(opt(o, d)); out.append(reply(s))
    s.sendall(opt(2)); out.append(reply(s))
elif mode == "off":
    s = connect()
    s.sendall(opt(5)); out.append(reply(s))
    s.sendall(opt(5, b"x")); out.append(reply(s))
    s.sendall(opt(3)); out.append(reply(s))
elif mode == "inject":
    s = connect()
    s.sendall(opt(5) + opt(3) + opt(8))
    out.append(reply(s))
    s.settimeout(1)
    try:
        extra = s.recv(20)
        out.append("plaintext after STARTTLS: %r" % extra if extra else "closed")
    except socket.timeout:
        out.append("nothing in plaintext")
    except OSError:
        out.append("closed")
elif mode == "reset":
    s = connect()
    s.sendall(opt(8)); out.append(reply(s))
    s.sendall(opt(10, meta)); out.append(reply(s)); out.append(reply(s))
    s.sendall(opt(5)); out.append(reply(s))
    t = tls(s)
    t.sendall(opt(5)); out.append("again:" + reply(t))
    t.sendall(opt(7, b"\0" * 6))
    while True:
        r = reply(t)
        if r.endswith(":ACK"):
            break
    # BLOCK_STATUS: a simple reply (EINVAL) means structured replies did
    # not survive STARTTLS.
    t.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 7, 1, 0, 512))
    magic, err = struct.unpack(">II", exact(t, 8))
    out.append("block status reply magic %#x error %d" % (magic, err))
print(" ".join(out))
PY

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    for mode in require off on; do
        start_server $who-$mode "$bin" --tls=$mode --tls-certificates="$T/pki" memory 1M
    done
    sock() { echo "$T/$who-$1.sock"; }
    got=$(/usr/bin/python3 raw.py "$(sock require)" require pki/ca-cert.pem) || fail "$who: require: $got"
    expect_eq "$who: --tls=require before STARTTLS" \
        "3:ERR_TLS_REQD 6:ERR_TLS_REQD 7:ERR_TLS_REQD 8:ERR_TLS_REQD 9:ERR_TLS_REQD 10:ERR_TLS_REQD 99:ERR_TLS_REQD 2:ACK" "$got"
    got=$(/usr/bin/python3 raw.py "$(sock off)" off pki/ca-cert.pem) || fail "$who: off: $got"
    expect_eq "$who: --tls=off STARTTLS, then LIST served" "5:ERR_POLICY 5:ERR_INVALID 3:0x2" "$got"
    got=$(/usr/bin/python3 raw.py "$(sock on)" inject pki/ca-cert.pem) || fail "$who: inject: $got"
    expect_match "$who: options after STARTTLS in the same packet" "^5:ACK (nothing in plaintext|closed)$" "$got"
    got=$(/usr/bin/python3 raw.py "$(sock on)" reset pki/ca-cert.pem) || fail "$who: reset: $got"
    expect_eq "$who: plaintext negotiation forgotten, second STARTTLS invalid" \
        "8:ACK 10:META_CONTEXT 10:ACK 5:ACK again:5:ERR_INVALID block status reply magic 0x67446698 error 22" "$got"
    nbdinfo --size "nbds+unix:///?socket=$(sock on)&tls-certificates=$T/client" >/dev/null || fail "$who: still serving"
    for mode in require off on; do stop_server $who-$mode; done
done
