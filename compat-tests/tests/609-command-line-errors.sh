# Command-line errors exit 1 with nbdkit's messages, and do not serve.
source "$COMPAT_LIB"

check_error() {     # check_error WHAT REGEX ARGS...
    local what=$1 re=$2 out rc
    shift 2
    out=$(timeout 10 "$NBDKIT" -f -U "$T/err.sock" "$@" 2>&1); rc=$?
    expect_eq "$what: exit status" 1 "$rc"
    expect_match "$what: message" "$re" "$out"
    [ -S "$T/err.sock" ] && fail "$what: a socket was created anyway"
    return 0
}

# TCP ports that cannot be bound: the same words and status as C nbdkit
# (all addresses in use is two lines of its own, another bind error a
# perror, a failed lookup getaddrinfo's text).  A listener on a free port
# makes "in use".
/usr/bin/python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)' >port.txt &
track_pid $!
for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
port=$(cat port.txt)
bind_err() {        # bind_err BINARY: its answers to each case
    local a
    for a in "-i 127.0.0.1 -p $port" "-4 -i 127.0.0.1 -p $port" "-i 192.0.2.1 -p $port" \
             "-i nonexistent.invalid -p $port" "-i 127.0.0.1 -p nosuchservice"; do
        echo "[$a]"
        # shellcheck disable=SC2086
        timeout 10 "$1" -f $a memory 1M 2>&1
        echo "exit $?"
    done
}
want=$(bind_err "$REF_NBDKIT")
expect_match "C nbdkit's bind errors (sanity)" "unable to bind to any TCP/IP sockets" "$want"
expect_eq "bind errors as C nbdkit words them" "$want" "$(bind_err "$NBDKIT")"

check_error "missing plugin" "nosuchplugin" nosuchplugin
check_error "size with an unknown suffix" "could not parse size: unknown suffix: iB" null 1MiB
check_error "size that is not a number" "could not parse size" memory size=abc
check_error "memory without a size" "size" memory
check_error "no plugin at all" "." 

# A Unix socket path that is already taken: nbdkit's perror-style message,
# and the existing socket is left alone.
start_server taken "$NBDKIT" memory 1M
out=$(timeout 10 "$NBDKIT" -f -U "$T/taken.sock" memory 1M 2>&1); rc=$?
expect_eq "socket path in use: exit status" 1 "$rc"
expect_eq "socket path in use: message" "$T/taken.sock: Address already in use" "$out"
must nbdinfo --size "$(uri taken)" > /dev/null
ok "the server already on that socket still answers"
stop_server taken
