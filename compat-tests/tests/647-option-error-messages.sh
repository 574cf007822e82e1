#!/usr/bin/env bash
# An option the backend fails (NBD_OPT_INFO, NBD_OPT_GO: .open;
# NBD_OPT_LIST: .list_exports) is answered, as nbdkit 1.42 and later
# answer it, with the plugin's nbdkit_error message in the error reply
# (left out when longer than 4096 bytes), which libnbd shows in its debug
# output.  Compared with C nbdkit 1.44.1 and its eval plugin.
source "$COMPAT_LIB"
need_ref144
EVAL=$(plugin144 eval)
command -v nbdinfo >/dev/null || skip "no nbdinfo"

messages() {            # messages BINARY ARGS...: what libnbd read in error replies
    local b=$1
    shift
    "$b" -U - "$EVAL" get_size='echo 1M' "$@" \
        --run 'LIBNBD_DEBUG=1 nbdinfo "$uri"; LIBNBD_DEBUG=1 nbdinfo --list "$uri"' 2>&1 |
        grep -o 'nbd_opt_[a-z]*: handshake: server error message: .*' |
        sed -E 's#/tmp/nbdkit[A-Za-z0-9]+/#TMPDIR/#'
    echo "--"
}
long=$(head -c 5000 /dev/zero | tr '\0' x)
# The eval plugin's message is "/tmp/nbdkitXXXXXX/open: " (24 bytes) and
# stderr: 4096 bytes in all, and one more.
exact=$(head -c 4072 /dev/zero | tr '\0' y)
over=$(head -c 4073 /dev/zero | tr '\0' z)
for args in "open=echo 'no such export here' >&2; exit 1" \
            "list_exports=echo 'cannot list' >&2; exit 1" \
            "open=echo $long >&2; exit 1" \
            "open=echo $exact >&2; exit 1" "open=echo $over >&2; exit 1" \
            "open=exit 1"; do
    want=$(messages "$REF144" "$args")
    got=$(messages "$NBDKIT" "$args")
    expect_eq "error replies with [${args:0:40}]" "$want" "$got"
done
want=$(messages "$REF144" "open=echo 'no such export here' >&2; exit 1")
expect_match "C nbdkit sends the message (sanity)" "nbd_opt_go: handshake: server error message: TMPDIR/open: no such export here" "$want"
