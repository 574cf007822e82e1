#!/usr/bin/env bash
# Every place our server could answer without calling the plugin, or
# answer differently, checked with a plugin whose answers change under
# its clients (c-plugins/fickle.c): what clients see, and the calls the
# plugin gets (its own log), are those of C nbdkit 1.32.5.
#   - can_* answers and the size are asked per connection, never carried
#     over from an earlier one;
#   - a read is never answered from an earlier read, its error or the
#     extents (pread failing every second call, data changing each call,
#     extents calling everything zero);
#   - zero, FUA and cache are emulated as C nbdkit emulates them, with the
#     same plugin calls (zero by pwrite, FUA by flush, cache by pread);
#   - a slow plugin (every call sleeping) gives the same results.
# compat-timeout: 300
source "$COMPAT_LIB"
[ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
F=$C_PLUGINS/fickle.so
[ -e "$F" ] || skip "no $F (make c-plugins)"

# side BINARY LOGNAME SCRIPT ARGS...: serve ARGS with the plugin logging
# its calls to LOGNAME, run SCRIPT against it; print the script's output
# and the server's messages, then the plugin's calls.
side() {
    local bin=$1 log=$T/$2 script=$3
    shift 3
    rm -f "$log"
    "$bin" -U - "$F" log="$log" "$@" --run "$script" 2>&1 | norm_msgs
    # Calls made in parallel come in any order: sorted then.
    echo "-- plugin calls:"
    if [ "${SORT_CALLS:-}" ]; then sort "$log"; else cat "$log"; fi 2>/dev/null
}

# check LABEL SCRIPT ARGS...: the same on both sides.
check() {
    local label=$1 script=$2
    shift 2
    _same "$label" "$(side "$REF_NBDKIT" ref.calls "$script" "$@")" \
        "$(side "$NBDKIT" ours.calls "$script" "$@")"
}

export PYTHONDONTWRITEBYTECODE=1
cat > ops.py <<'EOF'
import nbd, sys
def t(what, f, *a, **kw):
    try:
        r = f(*a, **kw)
        if isinstance(r, (bytes, bytearray)):
            r = "%d bytes, first %d, last %d, distinct %d" % (len(r), r[0], r[-1], len(set(r)))
        print(what, "ok", r if r is not None else "")
    except nbd.Error as e:
        print(what, "error", e.errno)
EOF

# Answers that change between connections: each connection asks anew.
check "can_* and size per connection" \
    'for i in 1 2 3 4; do nbdinfo --json "$uri" | grep -v "\"uri\":"; done' flip=true
check "writes on connections that can and cannot" \
    'for i in 1 2 3; do nbdsh -u "$uri" -c "exec(open(\"ops.py\").read())
t(\"size\", h.get_size)
t(\"write\", h.pwrite, b\"x\" * 4096, 0)
t(\"trim\", h.trim, 4096, 0) if h.can_trim() else print(\"no trim\")
t(\"read\", h.pread, 4096, 0)"; done' flip=true

# Reads that fail every second call, with and without structured replies,
# large and small: every read reaches the plugin.
READS='nbdsh -u "$uri" -c "exec(open(\"ops.py\").read())
for n in (512, 65536, 1 << 20, 4 << 20):
    for i in range(3):
        t(\"read %d\" % n, h.pread, n, 0)
t(\"read, DF\", h.pread, 1 << 20, 0, nbd.CMD_FLAG_DF)"
nbdsh -c "h.set_request_structured_replies(False)" -c "h.connect_uri(\"$uri\")" -c "exec(open(\"ops.py\").read())
for i in range(4):
    t(\"simple read\", h.pread, 1 << 20, 0)"
qemu-io -r -f raw -c "read 0 1M" -c "read 0 1M" -c "read 0 1M" "$uri" | grep -v " ops; "'
check "pread failing every second call" "$READS" size=8M readfail=true
check "... and extents calling all of it zero" "$READS" size=8M readfail=true stale=true

# Data changing under the client: no read is answered from another.
check "data changing each read" "$READS" size=8M drift=true stale=true

# Many small reads from one client: a plugin this fast is soon called
# from our event loop (inline), and each read must still reach it.
SMALL='nbdsh -u "$uri" -c "exec(open(\"ops.py\").read())
for i in range(600):
    t(\"read 4096 at %d\" % (i % 7 * 4096), h.pread, 4096, i % 7 * 4096)"'
check "600 small reads, data changing each read" "$SMALL" size=1M drift=true stale=true
check "600 small reads, every second one failing" "$SMALL" size=1M readfail=true stale=true

# Emulation: the plugin calls each emulated request makes.
OPS='nbdsh -u "$uri" -c "exec(open(\"ops.py\").read())
t(\"write fua\", h.pwrite, b\"y\" * 70000, 1000, nbd.CMD_FLAG_FUA)
t(\"zero\", h.zero, 3 << 20, 4096)
t(\"zero no hole\", h.zero, 100000, 8192, nbd.CMD_FLAG_NO_HOLE)
t(\"zero fua\", h.zero, 5000, 12345, nbd.CMD_FLAG_FUA)
t(\"fast zero\", h.zero, 65536, 0, nbd.CMD_FLAG_FAST_ZERO) if h.can_fast_zero() else print(\"no fast zero\")
t(\"trim fua\", h.trim, 65536, 65536, nbd.CMD_FLAG_FUA)
t(\"flush\", h.flush)
t(\"cache\", h.cache, 5 << 20, 100) if h.can_cache() else print(\"no cache\")
t(\"read back\", h.pread, 80000, 0)"'
for args in "zero=native fua=native cache=native" "zero=emulate fua=emulate cache=emulate" \
            "zero=enotsup fua=none cache=none" "zero=emulate fua=none cache=emulate"; do
    # shellcheck disable=SC2086
    check "emulation: $args" "$OPS" size=8M $args
done

# A slow plugin: requests in flight at once on several connections.
SORT_CALLS=1 check "slow plugin, queue depth 8 on 3 connections" \
    'for c in 0 1 2; do nbdsh -u "$uri" -c "
import hashlib
base = $c << 20
for i in range(8):
    h.aio_pwrite(bytes([i + 1 + $c * 8]) * 65536, base + i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
bufs = [nbd.Buffer(65536) for i in range(8)]
for i in range(8):
    h.aio_pread(bufs[i], base + i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
print([b.to_bytearray()[0] for b in bufs])
" & done | sort' size=4M delay=30

# A slow plugin with large requests in flight (8 reads of 8 MiB on each
# of 4 connections): served, never refused for memory (ENOMEM) by our
# request budget at its default.
SORT_CALLS=1 check "slow plugin, 8 MiB reads at queue depth 8 on 4 connections" \
    'for c in 0 1 2 3; do nbdsh -u "$uri" -c "
bufs = [nbd.Buffer(8 << 20) for i in range(8)]
cookies = [h.aio_pread(bufs[i], i << 20) for i in range(8)]
while h.aio_in_flight() > 0:
    h.poll(-1)
out = []
for c in cookies:
    try:
        out.append(\"read %s\" % h.aio_command_completed(c))
    except nbd.Error as e:
        out.append(\"read error %s\" % e.errno)
# One write: the four clients share the pipe.
os.write(1, (\"\\n\".join(out) + \"\\n\").encode())
" & done | sort' size=16M delay=20

