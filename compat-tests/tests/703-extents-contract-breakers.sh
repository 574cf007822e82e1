#!/usr/bin/env bash
# A plugin that breaks the extents contract (descending, a gap, a first
# extent after the offset, a length overflowing 64 bits, no extents at
# all) gets the client an error reply and a log line naming the plugin;
# the same connection keeps working, and so do others.  An overlong list
# (2 million extents) is capped as nbdkit caps it: the reply is the same.
# C nbdkit 1.32.5 is checked for the same errno and message, except for
# the 64-bit overflow, which it does not catch (it sends the wrapped length).
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/extents-shapes.so" ] || skip "C plugins not built"
so=$C_PLUGINS/extents-shapes.so

cat > bad.py <<'PY'
import sys
import nbd
uri = sys.argv[1]
h = nbd.NBD()
h.add_meta_context("base:allocation")
h.connect_uri(uri)
other = nbd.NBD()
other.connect_uri(uri)
def cb(meta, off, entries, err):
    print("ok", off, len(entries) // 2, list(entries)[:4], sum(entries[0::2]))
    return 0
for count, off in ((65536, 4096), (4096, 1024 * 1024 - 4096)):
    try:
        h.block_status(count, off, cb)
    except nbd.Error as e:
        print("error", nbd.Error.__name__, e.errno)
    # The connection still serves requests, and so does another one.
    assert h.pread(4, 8) == b"\xaa" * 4
    assert other.pread(4, 3 * 65536) == b"\0" * 4
print("still connected", h.aio_is_ready() or h.aio_is_processing() or True)
h.shutdown()
# A new connection after the errors works too.
h = nbd.NBD()
h.connect_uri(uri)
assert h.pread(4, 0) == b"\xaa" * 4
h.shutdown()
other.shutdown()
PY

check() {               # check SHAPE EXPECTED-ERRNO LOG-MESSAGE-REGEX [noref]
    local shape=$1 errno=$2 msg=$3 noref=${4:-} s out
    for s in ours ref; do
        [ $s = ref ] && { [ -n "$noref" ] || [ ! -x "$REF_NBDKIT" ]; } && continue
        local bin=$NBDKIT; [ $s = ref ] && bin=$REF_NBDKIT
        start_server "$s-$shape" "$bin" "$so" shape=$shape
        out=$(python3 bad.py "$(uri "$s-$shape")" 2>&1) ||
            fail "$s: shape=$shape: client failed: $out"
        expect_eq "$s: shape=$shape: replies" \
            "$(printf 'error Error %s\nerror Error %s\nstill connected True' "$errno" "$errno")" "$out"
        server_alive "$s-$shape" || fail "$s: shape=$shape: server died"
        stop_server "$s-$shape"
        expect_match "$s: shape=$shape: log names the plugin" \
            "^nbdkit: extents-shapes[^ ]*: error: .*$msg" "$(cat "$s-$shape.log")"
    done
}

EIO=EIO EINVAL=EINVAL
check descending $EIO "nbdkit_add_extent: extents must be added in ascending order and must be contiguous"
check gap $EIO "nbdkit_add_extent: extents must be added in ascending order and must be contiguous"
check late $EIO "nbdkit_add_extent: first extent must not be > start \\(4096\\)"
check none $EINVAL "plugin must return at least one extent"
check overflow $EIO "nbdkit_add_extent: .*overflow" noref

# Overlong: capped, the same reply as C nbdkit's, and the server lives on.
start_server ours-long "$NBDKIT" "$so" shape=overlong
got=$(python3 bad.py "$(uri ours-long)" 2>&1) || fail "overlong: $got"
expect_match "overlong: capped reply" "^ok 4096 65537 \\[1, 0, 1, 3\\] 65537" "$got"
if [ -x "$REF_NBDKIT" ]; then
    start_server ref-long "$REF_NBDKIT" "$so" shape=overlong
    want=$(python3 bad.py "$(uri ref-long)" 2>&1)
    expect_eq "overlong: same as C nbdkit" "$want" "$got"
fi
