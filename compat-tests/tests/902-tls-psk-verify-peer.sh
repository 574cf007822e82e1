# TLS with pre-shared keys (psktool) and client certificates checked with
# --tls-verify-peer, our server and C nbdkit with the same options:
# nbdinfo/nbdcopy/nbdsh with tls-psk-file= over Unix and TCP, qemu-img with
# tls-creds-psk; an unknown PSK user and a client certificate from another
# CA are refused, a good certificate is accepted, and the server keeps
# serving after each refusal; -D nbdkit.tls.session=1 logs the session
# and the PSK user.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"
mkdir -p qpsk && cp keys.psk qpsk/keys.psk      # qemu wants DIR/keys.psk

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    start_server $who "$bin" -v -D nbdkit.tls.session=1 --tls=require --tls-psk="$T/keys.psk" memory 4M
    sock=$T/$who.sock
    psk_uri="nbds+unix://alice@/?socket=$sock&tls-psk-file=$T/keys.psk"
    out=$(nbdinfo "$psk_uri") || fail "$who: nbdinfo with PSK: $out"
    expect_match "$who: PSK session" "with TLS" "$out"
    nbdsh -c 'h.set_uri_allow_local_file(True)' -c "h.connect_uri('$psk_uri')" \
        -c 'h.pwrite(b"psk." * 1024, 8192)' || fail "$who: nbdsh write with PSK"
    out=$(qemu-img info --object "tls-creds-psk,id=tls0,dir=$T/qpsk,username=alice,endpoint=client" \
        --image-opts "driver=nbd,path=$sock,tls-creds=tls0" 2>&1) || fail "$who: qemu-img with PSK: $out"
    expect_match "$who: qemu-img info with PSK" "virtual size: 4 MiB" "$out"
    psktool -u alice -p "$T/wrong.psk" >/dev/null 2>&1
    if nbdinfo "nbds+unix://alice@/?socket=$sock&tls-psk-file=$T/wrong.psk" >/dev/null 2>&1; then
        fail "$who: wrong key accepted"
    fi
    psktool -u mallory -p "$T/mallory.psk" >/dev/null 2>&1
    if nbdinfo "nbds+unix://mallory@/?socket=$sock&tls-psk-file=$T/mallory.psk" >/dev/null 2>&1; then
        fail "$who: unknown PSK user accepted"
    fi
    nbdcopy "$psk_uri" "$T/$who.img" || fail "$who: nbdcopy after refusals"
    expect_eq "$who: data after refusals" "$(printf 'psk.%.0s' $(seq 1024) | md5sum)" "$(tail -c +8193 "$T/$who.img" | head -c 4096 | md5sum)"
    stop_server $who
    expect_match "$who: -D nbdkit.tls.session=1 logs the PSK user" "debug: TLS: PSK username: alice" "$(grep 'PSK username' $who.log | head -1)"
    expect_match "$who: -D nbdkit.tls.session=1 logs the session" "debug: TLS session: \(TLS1" "$(grep 'TLS session' $who.log | head -1)"

    port=$(free_port)
    start_tcp_server $who-tcp "$port" "$bin" --tls=require --tls-psk="$T/keys.psk" memory 1M
    out=$(nbdinfo --size "nbds://alice@127.0.0.1:$port?tls-psk-file=$T/keys.psk") || fail "$who: PSK over TCP"
    expect_eq "$who: PSK over TCP" 1048576 "$out"
    stop_server $who-tcp

    # --tls-verify-peer: a client certificate signed by our CA is required.
    start_server $who-vp "$bin" --tls=require --tls-certificates="$T/pki" --tls-verify-peer memory 1M
    sock=$T/$who-vp.sock
    out=$(nbdinfo --size "nbds+unix:///?socket=$sock&tls-certificates=$T/client") || fail "$who: good client certificate refused"
    expect_eq "$who: good client certificate" 1048576 "$out"
    if nbdinfo --size "nbds+unix:///?socket=$sock&tls-certificates=$T/badclient" >/dev/null 2>&1; then
        fail "$who: client certificate from another CA accepted"
    fi
    mkdir -p nocert && cp pki/ca-cert.pem nocert/
    if nbdinfo --size "nbds+unix:///?socket=$sock&tls-certificates=$T/nocert" >/dev/null 2>&1; then
        fail "$who: client without a certificate accepted"
    fi
    out=$(qemu-img info --object "tls-creds-x509,id=tls0,dir=$T/client,endpoint=client" --image-opts \
        "driver=nbd,path=$sock,tls-creds=tls0,tls-hostname=localhost" 2>&1) || fail "$who: qemu-img with client cert: $out"
    out=$(nbdinfo --size "nbds+unix:///?socket=$sock&tls-certificates=$T/client") || fail "$who: not serving after refusals"
    stop_server $who-vp
    n=$(grep -c 'gnutls_handshake' "$T/$who-vp.log")
    expect_eq "$who: one log line per refused handshake" 2 "$n"
done
