# The --tls options as nbdkit 1.44.1 takes them, compared with it:
# messages and exit statuses for missing certificates (require: error,
# on: warning and TLS off), a missing or unreadable PSK file, TLS required
# with -o, a bad --tls value, a bad key; --dump-config's tls=yes; $tls and
# the nbds URIs --run gets (with the credentials' file or directory);
# default certificate directories under $HOME.
source "$COMPAT_LIB"
need_ref144
NULL=$(ref144_plugin null)
source "$REPO/compat-tests/tls-keys.sh"
mkdir -p partial badkey home/.config/pki/nbdkit
cp pki/ca-cert.pem partial/
cp pki/* badkey/ && echo junk >badkey/server-key.pem
cp pki/* home/.config/pki/nbdkit/

# Run both servers with the same arguments (stdin closed, 5 s at most):
# stdout, stderr and exit status must match, with the test's directory
# and the -U - socket directory masked.
same() {
    local what=$1 o r a ref_args=()
    shift
    for a in "$@"; do [ "$a" = null ] && ref_args+=("$NULL") || ref_args+=("$a"); done
    o=$(cd "$T" && timeout 5 "$NBDKIT" "$@" </dev/null 2>&1; echo "exit=$?")
    r=$(cd "$T" && timeout 5 "$REF144" "${ref_args[@]}" </dev/null 2>&1; echo "exit=$?")
    r=$(sed -E 's#^nbdkit[^:]*:#nbdkit:#' <<<"$r")
    o=${o//$T/T}; r=${r//$T/T}
    o=$(sed -E 's#/tmp/nbdkit[A-Za-z0-9]+/#TMP/#g' <<<"$o")
    r=$(sed -E 's#/tmp/nbdkit[A-Za-z0-9]+/#TMP/#g' <<<"$r")
    expect_eq "$what" "$r" "$o"
}

run='echo "tls=$tls uri=$uri"'
same "--tls=require without certificates" -U - --tls=require --tls-certificates="$T/nonexistent" null --run "$run"
same "--tls=require, incomplete directory" -U - --tls=require --tls-certificates="$T/partial" null --run "$run"
same "--tls=on without certificates" -U - --tls=on --tls-certificates="$T/nonexistent" null --run "$run"
same "--tls=require with -o" -U - -o --tls=require --tls-certificates="$T/pki" null --run "$run"
same "--tls=on with -o" -U - -o --tls=on --tls-certificates="$T/pki" null --run "$run"
same "missing PSK file" -U - --tls=require --tls-psk="$T/nonexistent.psk" null --run "$run"
same "missing PSK file, --tls=off" -U - --tls=off --tls-psk="$T/nonexistent.psk" null --run "$run"
echo "not a psktool file" >garbage.psk
same "PSK file that is not psktool's (read per handshake: starts)" -U - --tls=require --tls-psk="$T/garbage.psk" null --run "$run"
same "bad --tls value" -U - --tls=maybe null --run "$run"
same "bad server key" -U - --tls=require --tls-certificates="$T/badkey" null --run "$run"
for t in off on require yes no force; do
    same "\$tls and \$uri, --tls=$t" -U - --tls=$t --tls-certificates="$T/pki" null --run "$run"
done
same "\$tls with PSK and no --tls" -U - --tls-psk="$T/keys.psk" null --run "$run"
same "\$tls with certificates and no --tls" -U - --tls-certificates="$T/pki" null --run "$run"
same "no certificates anywhere and no --tls" -U - null --run "$run"
port=$(free_port)
same "TCP URI under --tls=require" -p "$port" --tls=require --tls-certificates="$T/pki" null --run "$run"
if [ "$(id -u)" != 0 ]; then
    HOME=$T/home same "certificates from \$HOME/.config/pki/nbdkit" -U - --tls=require null --run "$run"
else
    ok "default directory under \$HOME not tried as root (nbdkit uses /etc/pki/nbdkit)"
fi
expect_eq "--dump-config tls" "$("$REF144" --dump-config | grep '^tls=')" "$("$NBDKIT" --dump-config | grep '^tls=')"
