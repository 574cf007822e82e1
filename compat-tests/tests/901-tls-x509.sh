# TLS with X.509 certificates (made here with certtool), our server and C
# nbdkit with the same options: nbdinfo, nbdcopy, nbdsh with nbds+unix://
# and nbds:// URIs, qemu-img info/convert with tls-creds-x509, over Unix
# and TCP; --tls=require refusing a plain client with the same error as C
# nbdkit; --tls=on serving plain and TLS clients; nbdkit_is_tls seen by a
# C test plugin (everything.so) in both modes.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"
[ -e "$C_PLUGINS/everything.so" ] || fail "build the C test plugins first (make build)"

creds="tls-certificates=$T/client"
qobj="tls-creds-x509,id=tls0,dir=$T/client,endpoint=client"

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    # --tls=require on a Unix socket.
    start_server $who "$bin" --tls=require --tls-certificates="$T/pki" memory 4M
    sock=$T/$who.sock
    tls_uri="nbds+unix:///?socket=$sock&$creds"
    out=$(nbdinfo "$tls_uri") || fail "$who: nbdinfo over TLS: $out"
    expect_match "$who: nbdinfo sees TLS" "newstyle-fixed with TLS" "$out"
    nbdsh -c 'h.set_uri_allow_local_file(True)' -c "h.connect_uri('$tls_uri')" \
        -c 'h.pwrite(b"tls!" * 16384, 65536)' || fail "$who: nbdsh write over TLS"
    nbdcopy "$tls_uri" "$T/$who.img" || fail "$who: nbdcopy over TLS"
    expect_eq "$who: nbdcopy read back" "$(head -c 65536 /dev/zero | md5sum)" "$(head -c 65536 "$T/$who.img" | md5sum)"
    expect_eq "$who: written data" "$(printf 'tls!%.0s' $(seq 16384) | md5sum)" "$(tail -c +65537 "$T/$who.img" | head -c 65536 | md5sum)"
    out=$(qemu-img info --object "$qobj" --image-opts \
        "driver=nbd,path=$sock,tls-creds=tls0,tls-hostname=localhost" 2>&1) || fail "$who: qemu-img info: $out"
    expect_match "$who: qemu-img info size" "virtual size: 4 MiB" "$out"
    # A plain client is refused; keep its words for comparing with C nbdkit.
    if err=$(nbdinfo "nbd+unix:///?socket=$sock" 2>&1); then fail "$who: plain client served under --tls=require"; fi
    echo "${err//$sock/SOCK}" >"$T/$who.plain-err"
    if qemu-img info --image-opts "driver=nbd,path=$sock" >/dev/null 2>&1; then
        fail "$who: plain qemu-img served under --tls=require"
    fi
    # A client that fails the TLS handshake (here: garbage after STARTTLS
    # is accepted) does not stop the server.
    /usr/bin/python3 -c "
import socket, struct
s = socket.socket(socket.AF_UNIX); s.connect('$sock'); s.recv(18)
s.sendall(struct.pack('>I', 3) + struct.pack('>QII', 0x49484156454f5054, 5, 0))
s.recv(20); s.sendall(b'not a TLS client hello' * 10); s.settimeout(5)
try:
    s.recv(100)
except OSError:
    pass
"
    out=$(nbdinfo --size "$tls_uri") || fail "$who: not serving after a failed handshake"
    expect_eq "$who: size after a failed handshake" 4194304 "$out"
    stop_server $who

    # --tls=on over TCP: plain and TLS clients both served; qemu-img convert.
    port=$(free_port)
    start_tcp_server $who-tcp "$port" "$bin" --tls=on --tls-certificates="$T/pki" memory 4M
    out=$(nbdinfo "nbds://127.0.0.1:$port?$creds") || fail "$who: nbds:// over TCP: $out"
    expect_match "$who: TCP client sees TLS" "with TLS" "$out"
    out=$(nbdinfo "nbd://127.0.0.1:$port") || fail "$who: plain client under --tls=on: $out"
    expect_match "$who: plain client under --tls=on" "without TLS" "$out"
    head -c 1048576 /dev/urandom >"$T/src.raw"
    qemu-img convert -n -f raw --object "$qobj" "$T/src.raw" \
        --target-image-opts "driver=nbd,host=127.0.0.1,port=$port,tls-creds=tls0" ||
        fail "$who: qemu-img convert to TLS"
    nbdcopy "nbds://127.0.0.1:$port?$creds" "$T/back.raw" || fail "$who: nbdcopy from TCP TLS"
    expect_eq "$who: qemu-img convert then nbdcopy" "$(md5sum <"$T/src.raw")" "$(head -c 1048576 "$T/back.raw" | md5sum)"
    stop_server $who-tcp

    # nbdkit_is_tls as a C plugin sees it, with TLS and without.
    start_server $who-is "$bin" -v --tls=on --tls-certificates="$T/pki" "$C_PLUGINS/everything.so"
    nbdinfo --size "nbds+unix:///?socket=$T/$who-is.sock&$creds" >/dev/null || fail "$who: everything.so over TLS"
    nbdinfo --size "nbd+unix:///?socket=$T/$who-is.sock" >/dev/null || fail "$who: everything.so plain"
    stop_server $who-is
    seen=$(grep -o 'everything: is_tls=[01]' "$T/$who-is.log" | tr '\n' ' ')
    expect_eq "$who: nbdkit_is_tls in open (TLS, then plain)" "everything: is_tls=1 everything: is_tls=0 " "$seen"
done
expect_eq "plain client's error under --tls=require, ours vs C nbdkit" "$(cat ref.plain-err)" "$(cat ours.plain-err)"
