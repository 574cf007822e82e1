# The systemd examples in docs/systemd/ work as written: their ExecStart
# lines are read out of the unit files (paths under /run and /srv moved
# into the test's directory, /usr/bin/nbdkit replaced by the server under
# test) and run the way systemd runs them.
#  - nbdkit@.socket + nbdkit@.service (Accept=no): the service's command
#    under systemd-socket-activate, which binds the socket unit's
#    ListenStream and passes it as LISTEN_FDS=1 / LISTEN_PID; one server
#    answers several clients in turn.
#  - nbdkit-daemon.service (Type=forking, PIDFile=): the command returns
#    at once with a server in the background whose pid is in the unit's
#    PIDFile, serving the socket the command names.
# Ours and C nbdkit alike; systemd-analyze verify finds nothing to say
# about the units.
source "$COMPAT_LIB"

units=$REPO/docs/systemd
command -v systemd-socket-activate >/dev/null ||
    skip "systemd-socket-activate is not installed (package systemd)"

# unit_key FILE KEY: the value of KEY= in FILE (continuation lines joined).
unit_key() {
    sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' "$1" | sed -n "s/^$2=//p" | tail -n 1
}

# The unit's paths, rebased into this test's directory, and %i.
localize() {            # localize STRING INSTANCE
    local s=${1//%i/$2}
    s=${s//\/run\//$T/run/}
    s=${s//\/srv\//$T/srv/}
    printf '%s\n' "$s"
}

# cmd_of UNIT INSTANCE BINARY: the unit's ExecStart words in the array
# cmd, BINARY in place of /usr/bin/nbdkit (where the package installs the
# server: the command line must start with it).
cmd_of() {
    local line w
    line=$(unit_key "$1" ExecStart)
    [ -n "$line" ] || fail "$1: no ExecStart"
    read -r -a cmd <<<"$line"
    [ "${cmd[0]}" = /usr/bin/nbdkit ] || fail "$1: ExecStart does not run /usr/bin/nbdkit: $line"
    cmd[0]=$3
    for w in "${!cmd[@]}"; do cmd[w]=$(localize "${cmd[w]}" "$2"); done
}

mkdir -p srv/nbd run
printf 'systemd unit test\n' > data
truncate -s 1M srv/nbd/disk.img
dd if=data of=srv/nbd/disk.img conv=notrunc status=none

if command -v systemd-analyze >/dev/null; then
    out=$(cd "$units" && systemd-analyze verify --man=no \
              ./nbdkit@disk.socket ./nbdkit@disk.service ./nbdkit-daemon.service 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify has something to say: $out"
    ok "systemd-analyze verify: nothing to say about the units"
fi

expect_eq "socket unit: Accept" no "$(unit_key "$units/nbdkit@.socket" Accept)"
listen=$(localize "$(unit_key "$units/nbdkit@.socket" ListenStream)" disk)
expect_eq "socket unit: ListenStream" "$T/run/nbdkit/disk.sock" "$listen"
expect_eq "daemon unit: Type" forking "$(unit_key "$units/nbdkit-daemon.service" Type)"
pidfile=$(localize "$(unit_key "$units/nbdkit-daemon.service" PIDFile)" "")

for who in ours ref; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT

    # Socket activation, as nbdkit@disk.socket starts nbdkit@disk.service.
    cmd_of "$units/nbdkit@.service" disk "$bin"
    mkdir -p "$(dirname "$listen")"
    rm -f "$listen"
    systemd-socket-activate -l "$listen" "${cmd[@]}" 2>$who-activated.log &
    activated=$!
    track_pid $activated
    for _ in $(seq 100); do [ -S "$listen" ] && break; sleep 0.05; done
    [ -S "$listen" ] || fail "$who: systemd-socket-activate did not bind $listen"
    for n in 1 2 3; do
        got=$(nbdinfo --size "nbd+unix:///?socket=$listen" 2>&1) ||
            fail "$who: socket-activated client $n: $got; $(cat $who-activated.log)"
        expect_eq "$who: socket-activated (Accept=no), client $n: size" 1048576 "$got"
    done
    got=$(nbdcopy "nbd+unix:///?socket=$listen" - | head -c "$(stat -c %s data)")
    expect_eq "$who: socket-activated: data" "$(cat data)" "$got"
    grep -q "^Execing " $who-activated.log || fail "$who: not started by the launcher: $(cat $who-activated.log)"
    kill -0 $activated 2>/dev/null || fail "$who: the socket-activated server exited"
    kill -TERM $activated
    wait $activated 2>/dev/null
    ok "$who: one socket-activated server served 3 clients"

    # The forking daemon.
    cmd_of "$units/nbdkit-daemon.service" "" "$bin"
    rm -rf run/nbdkit-daemon
    mkdir -p "$(dirname "$pidfile")"    # systemd's RuntimeDirectory=
    "${cmd[@]}" 2>$who-daemon.log || fail "$who: daemon command failed: $(cat $who-daemon.log)"
    # daemon(7) asks for the pid file before the original process exits,
    # which ours does; C nbdkit writes it from the child after the parent
    # exits, and systemd then waits for it to appear, as here.
    if [ $who = ours ] && ! is_reference; then
        [ -s "$pidfile" ] || fail "$who: no pid file $pidfile when the command returned"
    fi
    for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.05; done
    [ -s "$pidfile" ] || fail "$who: no pid file $pidfile"
    pid=$(cat "$pidfile")
    track_pid "$pid"
    expect_match "$who: pid file holds a pid and a newline" '^[0-9]+$' "$(cat "$pidfile")"
    [ "$(od -An -c "$pidfile" | tr -d ' ' | tail -c 3)" = '\n' ] || fail "$who: pid file does not end in a newline"
    kill -0 "$pid" || fail "$who: pid $pid from the pid file is not running"
    expect_eq "$who: the pid file's process is the server" "$(realpath "$bin")" "$(realpath /proc/$pid/exe)"
    sock=$(printf '%s\n' "${cmd[@]}" | grep -A1 -x -- --unix | tail -n 1)
    got=$(nbdinfo --size "nbd+unix:///?socket=$sock" 2>&1) || fail "$who: daemon: $got"
    expect_eq "$who: daemon: size" 1048576 "$got"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && fail "$who: daemon did not exit on SIGTERM"
    ok "$who: daemon stopped on SIGTERM"
done
