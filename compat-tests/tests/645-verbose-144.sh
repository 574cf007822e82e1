#!/usr/bin/env bash
# -v line for line as nbdkit 1.44.1's: the lines 1.44.1 added (the service
# mode, the NBD URI or why there is none, the order requests pass through
# the layers) and a session's lines, with Debian's memory plugin (which C
# nbdkit 1.44.1 loads too) under 1.44.1's filters, on both servers.
source "$COMPAT_LIB"
need_ref144
command -v nbdsh >/dev/null || skip "no nbdsh"
MEM=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so
[ -e "$MEM" ] || skip "no $MEM"

CLIENTS=(
    'nbdinfo "$uri"'
    'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 4096, 0)" -c "h.pread(512, 4096)" -c "h.flush()"'
)
same_verbose144 "plugin alone" "$MEM" 1M
same_verbose144 "two filters" --filter="$(filter144 nofilter)" --filter="$(filter144 cow)" "$MEM" 1M

# Start-up lines in the other service modes, up to the plugin's
# registration (what follows is the same code on both servers);
# --version stops the server there, --run serves and ends.
startup() {             # startup BINARY ARGS...: the -v lines before registering
    local b=$1
    shift
    timeout 10 "$b" -v "$@" 2>&1 </dev/null | sed -n '1,/registering plugin/p' |
        grep -v 'registering plugin' | sed -E 's#/tmp/nbdkit[A-Za-z0-9]+#TMPDIR#g'
}
echo "alice:000102030405060708090a0b0c0d0e0f" > "$T/keys.psk"
for a in "-s" "-p 10998" "-U $T/u.sock" "--vsock" "-e foo -p 10998" "-e a/b%c -U $T/u.sock" \
         "--tls=require --tls-psk=$T/keys.psk" "--tls=on --tls-psk=$T/keys.psk -U $T/u.sock" "--dump-plugin" ""; do
    # shellcheck disable=SC2086
    want=$(startup "$REF144" $a --version "$MEM")
    expect_match "C nbdkit 1.44.1 with [$a] (sanity)" "service mode: " "$want"
    # shellcheck disable=SC2086
    expect_eq "start-up -v lines with [$a]" "$want" "$(startup "$NBDKIT" $a --version "$MEM")"
done
expect_eq "start-up -v lines with --run" "$(startup "$REF144" --run true "$MEM" 1M)" \
    "$(startup "$NBDKIT" --run true "$MEM" 1M)"
