# Debian's tls-fallback filter under --tls=on: a plain client gets the
# filter's fallback content, a TLS client the plugin's, the same as with C
# nbdkit (the filter asks nbdkit_is_tls in open, list_exports and
# default_export).
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"
[ -e /usr/lib/x86_64-linux-gnu/nbdkit/filters/nbdkit-tls-fallback-filter.so ] ||
    fail "Debian's tls-fallback filter missing (package nbdkit)"

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    start_server $who "$bin" --tls=on --tls-certificates="$T/pki" --filter=tls-fallback pattern 1M
    sock=$T/$who.sock
    nbdinfo --size "nbd+unix:///?socket=$sock" >$who.plain-size || fail "$who: plain client"
    nbdcopy "nbd+unix:///?socket=$sock" $who.plain || fail "$who: plain copy"
    nbdinfo --size "nbds+unix:///?socket=$sock&tls-certificates=$T/client" >$who.tls-size || fail "$who: TLS client"
    nbdcopy "nbds+unix:///?socket=$sock&tls-certificates=$T/client" $who.tls || fail "$who: TLS copy"
    stop_server $who
done
expect_eq "plain client's size, ours vs C" "$(cat ref.plain-size)" "$(cat ours.plain-size)"
expect_eq "plain client's content, ours vs C" "$(md5sum <ref.plain)" "$(md5sum <ours.plain)"
expect_match "plain client's content is the fallback" "requires TLS" "$(head -c 64 ours.plain)"
expect_eq "TLS client's size, ours vs C" "$(cat ref.tls-size)" "$(cat ours.tls-size)"
expect_eq "TLS client's content (the pattern plugin), ours vs C" "$(md5sum <ref.tls)" "$(md5sum <ours.tls)"
expect_eq "TLS client's size" 1048576 "$(cat ours.tls-size)"
