# nbdkit 1.44.1's URIs and captive mode, compared with C nbdkit 1.44.1:
# --print-uri for TCP, Unix and vsock, with an export name, and with TLS
# credentials; --run on a private Unix socket by default; the variables
# the --run shell gets (-U PATH sockets are left behind, so each side
# gets its own: @SIDE@); and that the URIs it gets reach the server.
source "$COMPAT_LIB"
need_ref144
source "$REPO/compat-tests/tls-keys.sh"
MEM=$(ref144_plugin memory)

both() {                # both LABEL ARGS... : run each with ARGS, compare stdout+status
    local label=$1 want got; shift
    want=$("$REF144" "${@//@SIDE@/ref}" "$MEM" 1M 2>&1 </dev/null; echo "exit $?")
    got=$("$NBDKIT" "${@//@SIDE@/ours}" memory 1M 2>&1 </dev/null; echo "exit $?")
    norm() { sed -E 's|/tmp/nbdkit[A-Za-z0-9]+/|/tmp/DIR/|g; s|^nbdkit[^:]*:|nbdkit:|; s/(ref|ours)\.sock/SIDE.sock/g'; }
    expect_eq "$label" "$(norm <<<"$want")" "$(norm <<<"$got")"
}

VARS='printf "%s|" "$uri" "$nbd" "$exportname" "$port" "$unixsocket" "${tls-unset}" "$tls_certificates" "$tls_psk"; echo'
both "--print-uri -p" --print-uri -p 10891 -e 'a b/c' --run true
both "--print-uri --vsock" --print-uri --vsock --run true
both "--print-uri -U" --print-uri -U "$T/@SIDE@.sock" --run true
both "--show-url -U -" --show-url -U - --run true
both "--run: variables, private socket" --run "$VARS"
both "--run -p -i: variables" -p 10892 -i 127.0.0.1 -e x --run "$VARS"
both "--run --tls=require PSK: variables" --tls=require --tls-psk="$T/keys.psk" --run "$VARS"
both "--run --tls=require X.509: variables" --tls=require --tls-certificates="$T/pki" -p 10893 --run "$VARS"
both "--run --tls=on X.509: variables" --tls=on --tls-certificates="$T/pki" --run "$VARS"
both "--run --tls=off" --tls=off --run "$VARS"

# The URIs carry what a client needs: libnbd connects with them alone.
# (A PSK URI names no user: libnbd would take the login name, which a
# test has none of, so only the X.509 one is tried.)
out=$("$NBDKIT" --tls=require --tls-certificates="$T/pki" -p 10894 memory 1M --run 'nbdinfo --size "$uri"' 2>&1)
expect_eq "nbdinfo with --tls-certificates' \$uri (TCP)" 1048576 "$out"
out=$("$NBDKIT" memory 1M --run 'nbdinfo --size "$nbd"; test -S "$unixsocket" && echo socket' 2>&1)
expect_eq "--run without -U: \$nbd reaches the server on \$unixsocket" "1048576
socket" "$out"
# The command gets the server's stdin and stdout (the server itself has
# /dev/null from .after_fork on: the 1.44.1 suite's test-stdio checks
# that, and C stdio flushed first).
printf 'line1\nline2\n' >in.txt
for side in ref ours; do
    if [ $side = ref ]; then b=$REF144 p=$MEM; else b=$NBDKIT p=memory; fi
    "$b" "$p" 1M --run 'cat' <in.txt >$side.stdio 2>&1
done
expect_eq "--run: the command's stdin and stdout" "$(cat ref.stdio)" "$(cat ours.stdio)"
# Two captive servers at once: no shared default port.
"$NBDKIT" memory 1M --run 'sleep 1; nbdinfo --size "$uri"' >a.out 2>&1 &
p=$!
"$NBDKIT" memory 2M --run 'sleep 1; nbdinfo --size "$uri"' >b.out 2>&1 || fail "second --run: $(cat b.out)"
wait $p || fail "first --run: $(cat a.out)"
expect_eq "two --run servers side by side" "1048576 2097152" "$(cat a.out) $(cat b.out)"
ok "URIs and --run as nbdkit 1.44.1"
