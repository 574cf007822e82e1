# Over TLS, a client that pipelines 48 reads of 1 MiB and does not read the
# replies for a while (the server's writes stop part-way, the rest waits in
# the outbox as ciphertext): another TLS client is served meanwhile, and
# the slow client then gets every reply whole, each once, with the right
# data (the pattern plugin: each 8 bytes hold their own offset).  Our
# server and C nbdkit alike.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"

cat >slow.py <<'PY'
import socket, ssl, struct, subprocess, sys, time
sock, ca, client_dir = sys.argv[1:4]
IHAVEOPT = 0x49484156454f5054
def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data
def exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(n - len(b), 1 << 20))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return bytes(b)
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(30)
exact(s, 18); s.sendall(struct.pack(">I", 3))
s.sendall(opt(5)); exact(s, 20)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(ca); ctx.check_hostname = False
t = ctx.wrap_socket(s, server_hostname="localhost")
t.sendall(opt(7, b"\0" * 6))
while True:
    _, o, typ, l = struct.unpack(">QIII", exact(t, 20)); exact(t, l)
    if typ == 1:
        break
N, L = 48, 1 << 20
t.sendall(b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, i * L, L) for i in range(N)))
time.sleep(1.5)
# Another TLS client is served while this one reads nothing.
out = subprocess.run(["nbdinfo", "--size", "nbds+unix:///?socket=%s&tls-certificates=%s" % (sock, client_dir)],
                     capture_output=True, text=True, timeout=20)
print("bystander:", out.stdout.strip() or out.stderr.strip())
seen = set()
for _ in range(N):
    magic, err, handle = struct.unpack(">IIQ", exact(t, 16))
    data = exact(t, L)
    i = handle
    want = b"".join(struct.pack(">Q", i * L + k) for k in range(0, L, 8)) if i < N else None
    if magic != 0x67446698 or err != 0 or i in seen or data != want:
        print("reply for handle %d wrong: magic %#x error %d, data ok %s" % (i, magic, err, data == want))
        sys.exit(1)
    seen.add(i)
print("replies: %d whole, right data" % N)
PY

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    start_server $who "$bin" --tls=require --tls-certificates="$T/pki" pattern 1G
    got=$(/usr/bin/python3 slow.py "$T/$who.sock" pki/ca-cert.pem "$T/client" 2>&1) || fail "$who: $got"
    expect_eq "$who: slow TLS reader" "bystander: 1073741824
replies: 48 whole, right data" "$got"
    stop_server $who
done
