#!/usr/bin/env bash
# A server that forks into the background lets go of the caller's stdio:
# `out=$(nbdkit ... 2>&1)` returns at once, the daemon's fds 0-2 are
# /dev/null (stderr kept with -v), and errors go to syslog.  --log=null
# and --log=stderr do what they say in the foreground.
source "$COMPAT_LIB"

for name in ref ours; do
    b=$REF_NBDKIT; [ $name = ours ] && b=$NBDKIT
    for v in "" -v; do
        start=$(date +%s)
        if [ -z "$v" ]; then
            out=$(timeout 20 "$b" -P "$name$v.pid" -U "$T/$name$v.sock" memory 1M 2>&1)
        else    # -v keeps stderr: the caller's $(...) would wait for it
            out=$(timeout 20 "$b" -v -P "$name$v.pid" -U "$T/$name$v.sock" memory 1M 2>"$name.err")
        fi
        rc=$?
        [ $rc -eq 0 ] || fail "$name $v: launcher exit $rc: $out"
        [ $(( $(date +%s) - start )) -lt 10 ] || fail "$name $v: \$(...) waited for the daemon"
        # C nbdkit's daemon may write the pid file after the launcher exits.
        for _ in $(seq 50); do [ -s "$name$v.pid" ] && break; sleep 0.1; done
        pid=$(cat "$name$v.pid"); track_pid "$pid"
        fds=$(for fd in 0 1 2; do readlink "/proc/$pid/fd/$fd"; done | tr '\n' ' ')
        if [ -z "$v" ]; then
            expect_eq "$name: daemon stdio" "/dev/null /dev/null /dev/null " "$fds"
        else
            case $fds in "/dev/null /dev/null /dev/null ") fail "$name -v: stderr not kept";; esac
            ok "$name -v: stderr kept ($fds)"
        fi
        kill "$pid"
    done
done

# An error in the foreground: --log=stderr prints it, --log=null does not.
for log in stderr null; do
    want=$(timeout 10 "$REF_NBDKIT" -f --log=$log -U - "$C_PLUGINS/everything.so" int=x 2>&1; echo "exit $?")
    got=$(timeout 10 "$NBDKIT" -f --log=$log -U - "$C_PLUGINS/everything.so" int=x 2>&1; echo "exit $?")
    expect_eq "--log=$log of a config error" "$want" "$got"
done
# nbdkit 1.44.1's words (--log=/path is new; 640 compares with it).
want='nbdkit: --log must be "stderr", "syslog", "null", or an absolute path
exit 1'
expect_eq "--log=foo" "$want" "$("$NBDKIT" --log=foo null 2>&1; echo "exit $?")"
