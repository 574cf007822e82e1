#!/usr/bin/env bash
# `nbdkit -s` reads the client from stdin and answers on stdout whatever
# they are, not only a socket: /dev/null (the greeting, then end of file,
# exit 0) and a regular file holding a recorded client session (every
# reply written to stdout, a file or a pipe), as nbdkit 1.32.5 and
# 1.44.1 do.  stdout bytes, stderr and exit status are compared with
# both.  -t 1: with worker threads, nbdkit's reply order and thread names
# vary from run to run.
source "$COMPAT_LIB"
need_ref144

# Recorded sessions: fixed newstyle with no zeroes, NBD_OPT_GO on the
# default export, then requests (flags, command, handle, offset, count).
/usr/bin/python3 - <<'EOF'
import struct
IHAVEOPT = 0x49484156454F5054
def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data
def req(cmd, handle, off, n):
    return struct.pack(">IHHQQI", 0x25609513, 0, cmd, handle, off, n)
hello = struct.pack(">I", 3) + opt(7, struct.pack(">IH", 0, 0))
session = hello
session += req(0, 1, 0, 512)
session += req(1, 2, 512, 8) + b"abcdefgh"       # a write, read back below
session += req(0, 3, 0, 4096)
session += req(0, 4, 1 << 40, 512)                # out of range: EINVAL
session += req(0, 5, 8192, 65536)
session += req(2, 6, 0, 0)                         # NBD_CMD_DISC
open("session.bin", "wb").write(session)
# Cut inside the fourth request, inside the write's payload, inside the
# option.
cut = len(hello) + 28 + 36 + 28 + 10
open("cut-request.bin", "wb").write(session[:cut])
open("cut-payload.bin", "wb").write(session[:len(hello) + 28 + 28 + 3])
open("cut-option.bin", "wb").write(session[:10])
EOF

# run NAME BINARY MEMORY-PLUGIN INPUT HOW: the server's stdout bytes
# (hex digest), stderr and exit status.
run() {
    local name=$1 bin=$2 plugin=$3 input=$4 how=$5 rc
    rm -f "$name.out"
    case $how in
        file) timeout 20 "$bin" -t 1 -s "$plugin" 1M <"$input" >"$name.out" 2>"$name.err"; rc=$? ;;
        outpipe) timeout 20 "$bin" -t 1 -s "$plugin" 1M <"$input" 2>"$name.err" | cat >"$name.out"; rc=$? ;;
        inpipe) cat "$input" | timeout 20 "$bin" -t 1 -s "$plugin" 1M >"$name.out" 2>"$name.err"; rc=$? ;;
    esac
    echo "stdout $(wc -c <"$name.out") bytes, sha256 $(sha256sum <"$name.out" | cut -c1-16)"
    cat "$name.err"
    echo "exit $rc"
}

for input in /dev/null session.bin cut-request.bin cut-payload.bin cut-option.bin; do
    for how in file outpipe inpipe; do
        [ "$input" = /dev/null ] && [ "$how" = inpipe ] && continue
        want132=$(run ref "$REF_NBDKIT" memory "$input" "$how")
        want144=$(run ref144 "$REF144" "$(ref144_plugin memory)" "$input" "$how")
        got=$(run ours "$NBDKIT" memory "$input" "$how")
        expect_eq "$input ($how) as 1.32.5" "$want132" "$got"
        expect_eq "$input ($how) as 1.44.1" "$want144" "$got"
    done
done

# What the session's replies must hold (so the comparison cannot pass on
# two empty outputs): the greeting (18 bytes), the option replies (52),
# every reply header (16 each) and the data read (512, 4096, 65536).
out=$(run ours "$NBDKIT" memory session.bin file)
expect_match "a whole session is answered" '^stdout 70294 bytes' "$out"
expect_eq "/dev/null gets the greeting" "NBDMAGICIHAVEOPT" "$(timeout 20 "$NBDKIT" -s memory 1G </dev/null | head -c 16)"

# -v: nbdkit 1.44.1's lines, in the plugin's name once the connection is
# served (no "accepted connection": -s accepts nothing), to the unload.
verbose() {     # verbose BINARY MEMORY-PLUGIN INPUT
    timeout 20 "$1" -v -t 1 -s "$2" 1M <"$3" 2>&1 >/dev/null |
        grep -v 'registe' | sed -E 's/handle 0x[0-9a-f]+/handle PTR/'
}
for input in /dev/null session.bin; do
    want=$(verbose "$REF144" "$(ref144_plugin memory)" "$input")
    got=$(verbose "$NBDKIT" memory "$input")
    expect_eq "-v, $input, as 1.44.1" "$want" "$got"
done
