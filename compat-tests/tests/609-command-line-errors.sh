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

check_error "missing plugin" "nosuchplugin" nosuchplugin
check_error "size with an unknown suffix" "could not parse size: unknown suffix 'MiB'" null 1MiB
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
