# A relative --tls-psk path still works after the server forks to the
# background (which changes directory to /): GnuTLS reads the PSK file at
# each handshake, so the path must be made absolute at start-up.  Our
# server and C nbdkit alike.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    rm -f $who.pid
    "$bin" -P $who.pid -U "$T/$who.sock" --tls=require --tls-psk=keys.psk memory 1M 2>$who.log ||
        fail "$who: did not start: $(cat $who.log)"
    for i in $(seq 100); do [ -s $who.pid ] && break; sleep 0.1; done
    [ -s $who.pid ] || fail "$who: no pid file"
    track_pid "$(cat $who.pid)"
    out=$(nbdinfo --size "nbds+unix://alice@/?socket=$T/$who.sock&tls-psk-file=$T/keys.psk" 2>&1) ||
        fail "$who: PSK client refused by a background server: $out"
    expect_eq "$who: size over PSK, server in the background" 1048576 "$out"
    kill "$(cat $who.pid)"
done
