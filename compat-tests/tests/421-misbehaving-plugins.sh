#!/usr/bin/env bash
# C plugins that misbehave (garbage sizes, -1 without an error, can_*
# returning 42, no extents, open failing silently) are reported as C
# nbdkit 1.32.5 reports them, the client sees the same answers, and the
# server keeps serving the next connection.  A plugin that really
# crashes takes the server down in both, with the same status.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
REF=${REF_NBDKIT:-/usr/bin/nbdkit}
[ -x "$REF" ] || { echo "SKIP: no $REF"; exit 77; }
[ -e "$C_PLUGINS/garbage.so" ] || { echo "SKIP: C plugins not built"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0

# Every request type once, each answer printed; then a second client.
probe='nbdinfo --json "$uri" | grep -v "\"uri\":"
nbdsh -u "$uri" -c "
def t(what, f):
    try:
        r = f()
        print(what, \"ok\", r if not isinstance(r, bytes) else r[:4])
    except nbd.Error as e:
        print(what, \"errno\", e.errno)
t(\"pread\", lambda: h.pread(512, 0))
t(\"pread2\", lambda: h.pread(512, 8192))
t(\"pwrite\", lambda: h.pwrite(b\"x\" * 512, 0))
t(\"zero\", lambda: h.zero(512, 0))
t(\"trim\", lambda: h.trim(512, 0))
t(\"flush\", lambda: h.flush())
t(\"cache\", lambda: h.cache(512, 0))
t(\"extents\", lambda: h.block_status(4096, 0, lambda *a: 0))
"
echo "second client: $(nbdinfo --size "$uri" 2>&1)"'
# The thread named in a message differs (see 411): compare as NAME[*].
norm() { sed -E 's/^nbdkit: ([a-z-]+)(\.[0-9]+|\[[0-9]+\]): /nbdkit: \1[*]: /'; }

for mode in negsize sizefail readfail readgarbage can42 fua42 noextents openfail; do
    want=$("$REF" -U - "$C_PLUGINS/garbage.so" mode=$mode --run "$probe" 2>&1 | norm)
    got=$("$NBDKIT" -U - "$C_PLUGINS/garbage.so" mode=$mode --run "$probe" 2>&1 | norm)
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        echo "FAIL: garbage mode=$mode"; diff <(echo "$want") <(echo "$got")
        fails=$((fails + 1))
    else
        echo "ok: garbage mode=$mode"
    fi
done

# crash.so: the first 4K reads fine, then pread segfaults.  Both servers
# die of SIGSEGV (the shell sees 128+11).
crash() {
    local bin=$1 pid st
    rm -f crash.sock
    "$bin" -f -U "$tmp/crash.sock" "$C_PLUGINS/crash.so" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do [ -S crash.sock ] && break; sleep 0.1; done
    nbdsh -u "nbd+unix:///?socket=$tmp/crash.sock" \
        -c 'print(len(h.pread(512, 0)))' -c 'h.pread(512, 8192)' 2>/dev/null
    echo "client status $?"
    wait "$pid"
    st=$?
    echo "server status $st"
}
want=$(crash "$REF"); got=$(crash "$NBDKIT")
if [ "$want" != "$got" ]; then
    echo "FAIL: crash.so"; diff <(echo "$want") <(echo "$got"); fails=$((fails + 1))
else
    echo "ok: crash.so: $(echo $got)"
fi

[ "$fails" -eq 0 ]
