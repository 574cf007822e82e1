# -D nbdkit.tls.log=N hands GnuTLS's own log (levels up to N) to the
# server's debug output, as "gnutls: LEVEL: MESSAGE" lines in the
# connection's context; without the flag there are none.  Our server and
# C nbdkit alike.
source "$COMPAT_LIB"
source "$REPO/compat-tests/tls-keys.sh"

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    for flag in "" "-D nbdkit.tls.log=2"; do
        name=$who${flag:+-log}
        # shellcheck disable=SC2086  # $flag is zero or two words
        start_server "$name" "$bin" -v --tls=require --tls-psk=keys.psk $flag memory 1M
        out=$(nbdinfo --size "nbds+unix://alice@/?socket=$T/$name.sock&tls-psk-file=$T/keys.psk" 2>&1) ||
            fail "$name: PSK client refused: $out"
        stop_server "$name"
        n=$(grep -cE '^nbdkit: memory\[1\]: debug: gnutls: [12]: ' "$T/$name.log")
        if [ -z "$flag" ]; then
            expect_eq "$who: no GnuTLS lines without the flag" 0 "$n"
        else
            [ "$n" -gt 0 ] || fail "$who: no 'gnutls: LEVEL:' lines with $flag: $(log_tail "$name" 15)"
            ok "$who: $n GnuTLS log lines with $flag"
            expect_eq "$who: no lines above level 2" 0 \
                "$(grep -cE 'debug: gnutls: ([3-9]|[1-9][0-9]): ' "$T/$name.log")"
        fi
    done
done
