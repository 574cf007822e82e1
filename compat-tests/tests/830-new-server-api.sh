#!/usr/bin/env bash
# The server functions added after nbdkit 1.32, called by a C test plugin
# built against our include/ (c-plugins/newapi.c), compared with C nbdkit
# 1.44.1 loading the same .so: nbdkit_parse_probability and
# nbdkit_parse_delay on good and bad input (values and messages),
# nbdkit_disconnect outside a connection, nbdkit_peer_security_context,
# nbdkit_peer_tls_dn and nbdkit_peer_tls_issuer_dn over plain Unix and
# TCP, TLS with and without a verified client certificate, and TLS-PSK;
# then nbdkit_disconnect (0) and (1) as nbdsh sees them.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"
need_ref144
P=$C_PLUGINS/newapi.so
[ -e "$P" ] || fail "build the C test plugins first (make build)"
command -v nbdsh >/dev/null || skip "no nbdsh"

# 1. Parsing, while configuring (messages on stderr, in order).
parse=(probability=0.1 probability=1e-1 probability=10% probability=1:10
       probability=1/10 probability=0/0 probability=1/0 probability=-1
       probability=200% probability=x probability=inf probability=nan
       probability= probability=1%x "probability= 0.5" probability=1::4
       probability=3/4/ probability=0x1p-2
       delay=1 delay=1.2 delay=1.2s delay=120ms delay=1.2us delay=120μs
       delay=1ns delay=1.5ns delay=0 delay=-1 delay=-0 delay=inf delay=nan
       delay=1h delay= delay=0x10 delay=1e3ms delay=4294967295.5 "delay= 2")
a=$("$REF144" -U - "$P" "${parse[@]}" --run 'nbdinfo --size "$uri"' 2>&1; echo "status $?")
b=$("$NBDKIT" -U - "$P" "${parse[@]}" --run 'nbdinfo --size "$uri"' 2>&1; echo "status $?")
expect_match "C nbdkit 1.44.1 refuses 1/0" "probability: could not parse '1/0' as a probability" "$a"
expect_match "C nbdkit 1.44.1 refuses 1h" 'delay: could not parse delay or sleep: "1h"' "$a"
_same "parse_probability, parse_delay, disconnect in get_ready" "$a" "$b"

# 2. What each connection's .open learns about its peer.
peer() {                # peer BINARY ARGS...: the plugin's lines for one client
    local bin=$1
    shift
    "$bin" -U - "$P" "$@" 2>&1 | grep '^newapi: peer'
}
for how in plain tls-anonymous-peer tls-verified tls-psk; do
    case $how in
        plain) args=(); client='$uri' ;;
        tls-anonymous-peer) args=(--tls=require --tls-certificates="$T/pki")
                            client="\$uri&tls-certificates=$T/client" ;;
        tls-verified) args=(--tls=require --tls-certificates="$T/pki" --tls-verify-peer)
                      client="\$uri&tls-certificates=$T/client" ;;
        tls-psk) args=(--tls=require --tls-psk="$T/keys.psk")
                 client="nbds+unix://alice@/?socket=\$unixsocket&tls-psk-file=$T/keys.psk" ;;
    esac
    a=$(peer "$REF144" "${args[@]}" --run "nbdinfo --size \"$client\" >/dev/null")
    b=$(peer "$NBDKIT" "${args[@]}" --run "nbdinfo --size \"$client\" >/dev/null")
    [ -n "$a" ] || fail "$how: C nbdkit 1.44.1 did not serve the client"
    _same "$how: peer_security_context, peer_tls_dn, peer_tls_issuer_dn" "$a" "$b"
    if [ $how = tls-verified ]; then
        expect_match "a verified client's DN" '^newapi: peer_tls_dn: "CN=client.example.com"$' "$b"
        expect_match "its issuer's DN" '^newapi: peer_tls_issuer_dn: "CN=Test CA"$' "$b"
    fi
done

# Over TCP too.
for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF144
    port=$(free_port)
    start_tcp_server "$who-tcp" "$port" "$bin" "$P"
    nbdinfo --size "nbd://127.0.0.1:$port" >/dev/null || fail "$who: TCP client not served"
    stop_server "$who-tcp"
    grep '^newapi: peer' "$T/$who-tcp.log" >"$T/$who-tcp.peer"
done
_same "TCP: peer_* answers" "$(cat "$T/ref-tcp.peer")" "$(cat "$T/ours-tcp.peer")"

# 3. nbdkit_disconnect: soft (the write and the read in flight complete,
# the next request fails with ESHUTDOWN), then forced (nothing more
# answered: the write and the slow read sent after it fail with
# ENOTCONN), the server serving a new client afterwards.
soft='
import errno
def waitfor(cookie):
    while True:
        c = h.aio_peek_command_completed()
        if c:
            break
        h.poll(-1)
    assert c == cookie, (c, cookie)
buf = nbd.Buffer(1)
c1 = h.aio_pread(buf, 1)
waitfor(c1)
h.aio_command_completed(c1)
c2 = h.aio_pwrite(buf, 2)
waitfor(c2)
h.aio_command_completed(c2)
c3 = h.aio_pread(buf, 3)
waitfor(c3)
try:
    h.aio_command_completed(c3)
    print("read after soft disconnect: served")
except nbd.Error as ex:
    print("read after soft disconnect:", errno.errorcode[ex.errnum])
h.shutdown()
print("soft: clean shutdown")
'
force='
import errno
buf = nbd.Buffer(1)
c2 = h.aio_pwrite(buf, 2)
c1 = h.aio_pread(buf, 1)
while h.aio_in_flight() > 0 and not h.aio_is_dead():
    try:
        h.poll(-1)
    except nbd.Error:
        break
for c in (c1, c2):
    try:
        h.aio_command_completed(c)
        print("after forced disconnect: served")
    except nbd.Error as ex:
        print("after forced disconnect:", errno.errorcode.get(ex.errnum, ex.errnum))
'
# Plain, then over TLS (where the forced disconnect says goodbye with a
# close_notify: the client sees the connection end, not a TLS error).
for tls in plain psk; do
    targs=(); q=""
    if [ $tls = psk ]; then
        targs=(--tls=require --tls-psk="$T/keys.psk")
        q="&tls-psk-file=$T/keys.psk"
    fi
    for who in ref ours; do
        bin=$NBDKIT; [ $who = ref ] && bin=$REF144
        start_server "$who" "$bin" "${targs[@]}" "$P"
        s="$T/$who.sock"
        scheme=nbd+unix; [ $tls = psk ] && scheme="nbds+unix"
        {
            for e in soft force; do
                nbdsh -c 'h.set_uri_allow_local_file(True)' \
                      -c "h.connect_uri('$scheme://alice@/$e?socket=$s$q')" -c "${!e}" 2>&1
            done
            nbdinfo --size "$scheme://alice@/?socket=$s$q" 2>&1
        } >"$T/$who.disconnect"
        stop_server "$who"
    done
    expect_match "$tls: soft: ESHUTDOWN after" "read after soft disconnect: ESHUTDOWN" "$(cat "$T/ref.disconnect")"
    expect_match "$tls: force: nothing answered" "after forced disconnect: ENOTCONN" "$(cat "$T/ref.disconnect")"
    _same "$tls: nbdkit_disconnect soft and forced, then a new client" \
        "$(cat "$T/ref.disconnect")" "$(cat "$T/ours.disconnect")"
done
