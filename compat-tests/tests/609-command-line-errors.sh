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
