#!/usr/bin/env bash
# exitlast (the server exits when its last client leaves), exitwhen (a
# file created or deleted, a script, a process), ddrescue (bad blocks of a
# mapfile fail with EIO) and checkwrite (writes only check the data) as
# C nbdkit 1.32.5 does them.
# compat-timeout: 180
source "$COMPAT_LIB"
need_filters exitlast exitwhen ddrescue checkwrite
command -v nbdsh >/dev/null || skip "no nbdsh"

# exits_after N SECS: both servers of pair N exit within SECS, with the
# same status.
exits_after() {
    local side pid i st=()
    for side in ref ours; do
        pid=${SERVER_PID[$side-$1]}
        for i in $(seq $(($2 * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && fail "$side-$1 still running after $2 s"
        wait "$pid"
        st+=("exit status $?")
        SERVER_PID[$side-$1]=
    done
    _same "$3" "${st[0]}" "${st[1]}"
}

# exitlast: alive until a client has come and gone, then it exits.
n=1
start_pair $n --filter=exitlast memory 1M
for side in ref ours; do
    sleep 0.3
    server_alive $side-$n || fail "exitlast: $side exited before any client"
    nbdsh -u "$(uri $side-$n)" -c 'h.pread(512, 0)' || fail "exitlast: $side: client failed"
done
exits_after $n 5 "exitlast: exit after the last client"

# exitwhen: a file created while a client is connected; the server
# refuses new clients and exits when the client leaves.
n=2
start_pair $n --filter=exitwhen memory 1M exit-when-file-created="$T/stop-@SIDE@" exit-when-poll=1
clients=()
for side in ref ours; do
    nbdsh -u "$(uri $side-$n)" -c 'import time; time.sleep(2.5); print("first client", h.pread(2, 0))' \
        >first-$side.out 2>&1 &
    clients+=($!)
done
sleep 0.5; touch stop-ref stop-ours; sleep 1.5
for side in ref ours; do
    nbdinfo --size "$(uri $side-$n)" >/dev/null 2>&1; echo "new client: status $?" >second-$side.out
done
wait "${clients[@]}"
_same "exitwhen: the first client" "$(cat first-ref.out)" "$(cat first-ours.out)"
_same "exitwhen: a client after the file" "$(cat second-ref.out)" "$(cat second-ours.out)"
expect_match "exitwhen: the new client is refused" "status 1" "$SEEN"
exits_after $n 5 "exitwhen: exit when idle"

for how in "exit-when-file-deleted=$T/del-@SIDE@" "exit-when-script=test ! -e $T/flag-@SIDE@ || exit 88"; do
    n=$((n + 1))
    touch del-ref del-ours; rm -f flag-ref flag-ours
    start_pair $n --filter=exitwhen memory 1M "$how" exit-when-poll=1
    sleep 1.2
    server_alive ref-$n && server_alive ours-$n || fail "$how: exited too early"
    rm -f del-ref del-ours; touch flag-ref flag-ours
    exits_after $n 5 "exitwhen ${how%%=*}"
done
sleep 30 & pid=$!; track_pid $pid
n=$((n + 1))
start_pair $n --filter=exitwhen memory 1M exit-when-process-exits=$pid exit-when-poll=1
kill $pid
exits_after $n 5 "exitwhen process exits"

# ddrescue: reads touching a '-' (bad) area fail with EIO.
head -c 1M /dev/urandom > disk.img
cat > disk.map <<'MAP'
# Mapfile. Created by GNU ddrescue version 1.25
# current_pos  current_status  current_pass
0x00000000     +               1
#      pos        size  status
0x00000000  0x00010000  +
0x00010000  0x00001000  -
0x00011000  0x0006F000  +
0x00080000  0x00000200  -
0x00080200  0x0007FE00  +
MAP
same_run "ddrescue" '$PROBE "$uri" r:0:64k r:60k:8k r:68k:4k r:512k:512 r:513k:1k r:1M:1; nbdinfo --map "$uri"' \
    --filter=ddrescue file disk.img ddrescue-mapfile="$T/disk.map"
expect_match "ddrescue: a bad block fails" "r:60k:8k errno EIO" "$SEEN"

# checkwrite: writing what is there succeeds, anything else fails.
ops="w:0:4k:0 w:100000:10:0 z:0:64k t:0:4k w:32768:1:1 w:32768:1:0 z:32760:16 f r:0:64k"
same_run "checkwrite" "\$PROBE \"\$uri\" $ops; nbdcopy \"\$uri\" \"\$uri\"; echo \"copy status \$?\"" \
    --filter=checkwrite data '@32768 1' size=1M
expect_match "checkwrite: changing a byte fails" "w:32768:1:0 errno EIO" "$SEEN"
