#!/usr/bin/env bash
# Filters that change when requests are answered, not what: delay (per
# request type, open, close), rate, pause (a control socket holds and
# releases requests), readahead and scan (background reads of the
# plugin).  The data are C nbdkit's, and the requests really wait.
# compat-timeout: 180
source "$COMPAT_LIB"
need_filters delay rate pause readahead scan log
command -v nbdsh >/dev/null || skip "no nbdsh"

# elapsed CMD...: milliseconds CMD took (its output discarded)
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
export -f ms
n=0
timed() {               # timed LABEL MIN_MS MAX_MS OPS ARGS...: OPS take MIN..MAX ms on both
    local label=$1 min=$2 max=$3 ops=$4 t
    shift 4
    n=$((n + 1))
    start_pair $n "$@"
    same_seen "$label: answers" $n "\$PROBE \"\$uri\" $ops"
    for side in ref ours; do
        t=$(ms $PROBE "$(uri $side-$n)" $ops)
        [ "$t" -ge "$min" ] && [ "$t" -le "$max" ] ||
            fail "$label: $side answered in $t ms, expected $min..$max ms"
    done
    ok "$label: both took $min..$max ms"
    stop_pair $n
}
timed "delay-read=300ms" 300 20000 "r:0:512" --filter=delay memory 1M delay-read=300ms
timed "delay-write=300ms" 300 20000 "w:0:512:1" --filter=delay memory 1M delay-write=300ms
timed "delay-zero, -trim, -extents, -cache" 800 20000 "z:0:512 t:0:512 b:0:512 c:0:512" \
    --filter=delay memory 1M delay-zero=200ms delay-trim=200ms delay-extents=200ms delay-cache=200ms
timed "delay-open=400ms" 400 20000 "f" --filter=delay memory 1M delay-open=400ms
# 256 KiB is 2 Mbit: half a second at 4 Mbit/s once the burst is spent.
timed "rate=4M (bits/s): 256 KiB" 300 20000 "r:0:128k r:128k:128k" --filter=rate memory 1M rate=4M burstiness=0.1
timed "connection-rate=4M" 300 20000 "r:0:256k" --filter=rate memory 1M connection-rate=4M burstiness=0.1
# A rate file overrides rate= (4 kbit/s would take minutes here).
echo 1G > rate
timed "rate-file" 0 10000 "r:0:256k" --filter=rate memory 1M rate=4K rate-file="$T/rate"

# pause: after 'p' a read waits until 'r'.
cat > pause.py <<'PY'
import socket, sys, time
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[2])
c.sendall(b"p"); print("control:", c.recv(1))
buf = nbd.Buffer(512)
cookie = h.aio_pread(buf, 0)
t = time.time()
while time.time() - t < 0.5:
    h.poll(0)
    time.sleep(0.05)
print("done while paused:", h.aio_command_completed(cookie))
c.sendall(b"r"); print("control:", c.recv(1))
while not h.aio_command_completed(cookie):
    h.poll(-1)
print("done after resume:", buf.to_bytearray()[:4])
c.sendall(b"x"); print("control:", c.recv(1))
PY
n=$((n + 1))
start_server ref-$n "$REF_NBDKIT" --filter=pause memory 1M pause-control="$T/ctl-ref"
start_server ours-$n "$NBDKIT" --filter=pause memory 1M pause-control="$T/ctl-ours"
a=$(python3 pause.py "$(uri ref-$n)" "$T/ctl-ref" 2>&1)
b=$(python3 pause.py "$(uri ours-$n)" "$T/ctl-ours" 2>&1)
_same "pause" "$a" "$b"
expect_match "pause held the read" "done while paused: False" "$b"
stop_pair $n

# readahead and scan read ahead in the background: the client's data
# are the same and the plugin sees the extra reads / cache requests.
sr=(sparse-random 8M seed=9 percent=30)
for f in readahead scan; do
    n=$((n + 1))
    start_pair $n -r --filter=$f --filter=log "${sr[@]}" logfile="$T/flog-@SIDE@-$n"
    same_seen "$f: data" $n "nbdcopy \"\$uri\" - | md5sum; \$PROBE \"\$uri\" r:0:4k r:4k:4k r:8k:4k r:1M:64k"
    sleep 1
    stop_pair $n
    for side in ref ours; do
        # readahead caches past each read; scan caches the disk in 2M steps.
        grep -Eq 'Cache id=[0-9]+ offset=0x(2|3|20)000[0 ]' flog-$side-$n ||
            fail "$f: $side asked the plugin to cache nothing ahead of the reads"
    done
    ok "$f: both read ahead"
done
