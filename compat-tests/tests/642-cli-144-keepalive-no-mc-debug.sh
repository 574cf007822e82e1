# nbdkit 1.44.1's --keepalive (SO_KEEPALIVE on TCP connections, seen by
# ss), --no-meta-contexts (libnbd gets no base:allocation), and debug
# messages with control characters escaped, compared with C nbdkit 1.44.1.
source "$COMPAT_LIB"
need_ref144
command -v ss >/dev/null || skip "no ss (iproute2)"
MEM=$(ref144_plugin memory)
side_args() { if [ "$1" = ref ]; then echo "$REF144 $MEM"; else echo "$NBDKIT memory"; fi; }

# --keepalive: the server's end of a connection has the keepalive timer.
port=10871
for side in ref ours; do
    for ka in "" --keepalive; do
        read -r b p <<<"$(side_args $side)"
        port=$((port + 1))
        # ss, run while the client is connected (and idle, so no retransmit
        # timer hides the keepalive one), lists the server's socket.
        "$b" $ka -p $port "$p" 1M --run "nbdsh -u \"\$uri\" -c 'import subprocess; subprocess.run([\"sh\", \"-c\", \"sleep 0.5; ss -tnoH state established sport = :$port\"])'" \
            >"$side$ka.ss" 2>&1
        grep -c 'timer:(keepalive' "$side$ka.ss" >"$side$ka.count"
        grep -q . "$side$ka.ss" || fail "$side $ka: ss saw no connection"
    done
done
expect_eq "without --keepalive" "$(cat ref.count)" "$(cat ours.count)"
expect_eq "... no keepalive" 0 "$(cat ours.count)"
expect_eq "with --keepalive" "$(cat ref--keepalive.count)" "$(cat ours--keepalive.count)"
expect_eq "... keepalive" 1 "$(cat ours--keepalive.count)"

# --no-mc: the meta context options are refused; data still served.
Q='nbdsh -u "$uri" -c "print(h.can_meta_context(\"base:allocation\"), h.get_structured_replies_negotiated(), h.get_size())"'
for side in ref ours; do
    read -r b p <<<"$(side_args $side)"
    for o in "" --no-mc --no-meta-contexts; do
        printf '%s: ' "$o" >>"$side.mc"
        "$b" $o "$p" 1M --run "$Q" >>"$side.mc" 2>&1
    done
done
expect_eq "--no-mc" "$(cat ref.mc)" "$(cat ours.mc)"
expect_match "--no-mc: no base:allocation" '^--no-mc: False True 1048576' "$(sed -n 2p ours.mc)"

# Debug messages: an export name with control characters, as the server
# logs it (C string escapes, one line).
cat >ctl.py <<'PY'
import nbd, os
h = nbd.NBD()
h.set_export_name("a\tb\nc\\d\x01")
try:
    h.connect_unix(os.environ["SOCK"])
except nbd.Error:
    pass
PY
for side in ref ours; do
    read -r b p <<<"$(side_args $side)"
    "$b" -v "$p" 1M --run 'SOCK=$unixsocket /usr/bin/python3 ctl.py' 2>"$side.vlog"
    grep -F 'a\tb\nc\\d\x01' "$side.vlog" | grep -o 'debug: .*' | sort -u >"$side.esc"
done
[ -s ours.esc ] || fail "no escaped export name in the debug log: $(grep -i export ours.vlog | head -5)"
expect_eq "escaped debug lines" "$(cat ref.esc)" "$(cat ours.esc)"
ok "--keepalive, --no-mc and escaped debug messages as nbdkit 1.44.1"
