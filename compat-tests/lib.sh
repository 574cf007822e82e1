# Shared helpers for bash compat tests.  Source it first:
#
#   source "$COMPAT_LIB"
#
# Servers are started in the foreground on a private Unix socket in the
# test's temporary directory (the cwd), stderr to NAME.log:
#
#   start_server NAME BINARY [nbdkit args...]   # e.g. start_server ours "$NBDKIT" memory 1G
#   uri NAME [EXPORT]                           # nbd+unix:///EXPORT?socket=$PWD/NAME.sock
#   stop_server NAME                            # SIGTERM; fails the test if it doesn't exit
#
# Every server still running when the test exits is killed (trap), and
# if the test failed the tail of every server log is printed.

set -u
set -o pipefail

NBDKIT=${NBDKIT:?NBDKIT is not set (run tests through compat-tests/run)}
REF_NBDKIT=${REF_NBDKIT:-/usr/bin/nbdkit}
# C nbdkit 1.44.1's build tree: the release whose version the server
# reports (REF_NBDKIT is Debian's 1.32.5).  See need_ref144.
NBDKIT144_TREE=${NBDKIT144_TREE:-/var/tmp/nbdkit-1.44.1}
T=$PWD
# C nbdkit 1.44.1 (the binary of its build tree; its plugins by path with
# ref144_plugin NAME).  Tests comparing with it call need_ref144 first,
# which skips the test when it has not been built.
REF144=${REF144:-/var/tmp/nbdkit-1.44.1/server/nbdkit.c-1.44.1}
REF144_TREE=${REF144_TREE:-/var/tmp/nbdkit-1.44.1}
need_ref144() { [ -x "$REF144" ] || skip "no C nbdkit 1.44.1 at $REF144"; }
ref144_plugin() { echo "$REF144_TREE/plugins/$1/.libs/nbdkit-$1-plugin.so"; }

declare -A SERVER_PID=()
_lib_servers=()

log_tail() {            # log_tail NAME [LINES]
    local f=$T/$1.log
    echo "--- last ${2:-20} lines of $1.log ---"
    if [ -s "$f" ]; then tail -n "${2:-20}" "$f"; else echo "(empty)"; fi
    echo "---"
}

# Extra processes to kill at exit (e.g. a daemon that forked away).
EXTRA_PIDS=()
track_pid() { EXTRA_PIDS+=("$1"); }

_lib_cleanup() {
    local rc=$? n pid
    set +e
    for pid in "${EXTRA_PIDS[@]}"; do
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    done
    for n in "${_lib_servers[@]}"; do
        pid=${SERVER_PID[$n]:-}
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for n in "${_lib_servers[@]}"; do
        pid=${SERVER_PID[$n]:-}
        [ -n "$pid" ] || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for n in "${_lib_servers[@]}"; do log_tail "$n"; done
    fi
    exit $rc
}
trap _lib_cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
ok()   { echo "ok: $*"; }

expect_eq() {           # expect_eq WHAT EXPECTED GOT
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1"
        echo "  expected: $2"
        echo "  got:      $3"
        exit 1
    fi
    echo "ok: $1 = $3"
}

expect_match() {        # expect_match WHAT EXTENDED-REGEX GOT
    if ! grep -Eq -- "$2" <<<"$3"; then
        echo "FAIL: $1"
        echo "  expected to match: $2"
        echo "  got: $3"
        exit 1
    fi
    echo "ok: $1 matches /$2/"
}

# Run a command, failing the test (showing its output) if it fails.
must() {
    local out
    if ! out=$("$@" 2>&1); then
        echo "FAIL: command failed: $*"
        echo "$out" | tail -n 20
        exit 1
    fi
    [ -n "$out" ] && printf '%s\n' "$out"
    return 0
}

uri() {                 # uri NAME [EXPORT]
    echo "nbd+unix:///${2:-}?socket=$T/$1.sock"
}

wait_for_socket() {     # wait_for_socket PATH PID
    local i
    for i in $(seq 100); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_server NAME BINARY [args...]: runs BINARY -f -U NAME.sock args...
# Sets SERVER_PID[NAME]; fails the test if the socket doesn't appear.
start_server() {
    local name=$1 bin=$2 pid
    shift 2
    rm -f "$T/$name.sock"
    "$bin" -f -U "$T/$name.sock" "$@" 2>"$T/$name.log" >"$T/$name.out" &
    pid=$!
    SERVER_PID[$name]=$pid
    _lib_servers+=("$name")
    if ! wait_for_socket "$T/$name.sock" "$pid"; then
        echo "FAIL: server $name did not create its socket: $bin -f -U $name.sock $*"
        exit 1
    fi
}

# stop_server NAME: SIGTERM, wait up to 5 s.  Sets STOP_STATUS to the
# server's exit status.  Fails the test if it doesn't exit in time.
stop_server() {
    local name=$1 pid=${SERVER_PID[$1]} i
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        fail "server $name (pid $pid) did not exit within 5 s of SIGTERM"
    fi
    wait "$pid"
    STOP_STATUS=$?
    SERVER_PID[$name]=
}

# The server under test is the reference itself (NBDKIT=/usr/bin/nbdkit).
is_reference() { [ "$(realpath "$NBDKIT")" = "$(realpath "$REF_NBDKIT")" ]; }

server_alive() { kill -0 "${SERVER_PID[$1]}" 2>/dev/null; }

# A plugin .so of the reference, for comparing it to our built-in.
ref_plugin_exists() {
    [ -e "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-$1-plugin.so" ]
}

# --- Filters (tests 8xx) -----------------------------------------------
# Debian's filters served by the server under test and by C nbdkit with
# the same arguments, compared by what clients see:
#
#   need_filters NAME...        skip unless C nbdkit and these filters exist
#   start_pair N ARGS...        start_server ref-N "$REF_NBDKIT" ARGS; ours-N "$NBDKIT" ARGS
#                               (@SIDE@ in an argument becomes ref or ours: each
#                               server gets its own files)
#   stop_pair N
#   same_seen LABEL N SCRIPT    run bash SCRIPT with $uri set to ref-N then
#                               ours-N; fail with a diff unless the output
#                               (stdout and stderr) is the same.  The output
#                               is left in $SEEN.
#   same_run LABEL SCRIPT ARGS...  the same for `nbdkit -U - ARGS --run SCRIPT`
#                               (a fresh server per side; server messages included)
#   same_refusal LABEL ARGS...  both refuse to start with ARGS: same message, status
#   same_logs LABEL N           the two servers' stderr (norm_msgs) are the same
#   logged_pair LABEL VIEW ARGS...  the usual filter check: pair $((n + 1)) with
#                               the log filter's logfile=flog-SIDE-N (ARGS must
#                               include --filter=log), the VIEW script, then $ops
#                               through $PROBE, then the logs compared; leaves
#                               $VIEWED and $PROBED, and n incremented
#   norm_log FILE               a log filter's file less the timestamps
#   $VIEW                       nbdinfo --json (less the uri), --map, data md5
#   $PROBE URI OP...            python3 probe-ops.py (see the file)
FILTERDIR=/usr/lib/x86_64-linux-gnu/nbdkit/filters
PROBE="/usr/bin/python3 $REPO/compat-tests/data/probe-ops.py"
VIEW='nbdinfo --json "$uri" | grep -v "\"uri\":"; nbdinfo --map "$uri"; nbdcopy "$uri" - | md5sum'
export PROBE

# need_ref144: set REF144 to C nbdkit 1.44.1 (skip the test without it),
# run through a link named nbdkit so that its messages start "nbdkit:" as
# ours do.  Its own plugins and filters are loaded by path:
#   plugin144 NAME, filter144 NAME  (skip if that one was not built)
need_ref144() {
    local bin=$NBDKIT144_TREE/server/nbdkit.c-1.44.1
    [ -x "$bin" ] || skip "no C nbdkit 1.44.1 ($bin)"
    mkdir -p "$T/ref144"
    ln -sf "$bin" "$T/ref144/nbdkit"
    REF144=$T/ref144/nbdkit
}
# as_server_version: stdin, with the lines where Debian's nbdkit names its
# own version (--version's first line, -v's first debug line) naming C
# nbdkit 1.44.1's instead.  After need_ref144.
as_server_version() {
    local ref_v our_v
    ref_v=$("$REF_NBDKIT" --version | sed -n '1s/^nbdkit //p')
    our_v=$("$REF144" --version | sed -n '1s/^nbdkit //p')
    sed -E "s/^(nbdkit: debug: )?nbdkit ${ref_v//./\\.}\$/\1nbdkit $our_v/"
}
plugin144() {
    local p=$NBDKIT144_TREE/plugins/$1/.libs/nbdkit-$1-plugin.so
    [ -e "$p" ] || skip "nbdkit 1.44.1's $1 plugin not built"
    echo "$p"
}
filter144() {
    local f=$NBDKIT144_TREE/filters/$1/.libs/nbdkit-$1-filter.so
    [ -e "$f" ] || skip "nbdkit 1.44.1's $1 filter not built"
    echo "$f"
}

need_filters() {
    local f
    [ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
    command -v nbdinfo >/dev/null || skip "no nbdinfo"
    for f in "$@"; do
        [ -e "$FILTERDIR/nbdkit-$f-filter.so" ] || skip "Debian's $f filter not installed"
    done
}

logged_pair() {
    local label=$1 view=$2
    shift 2
    n=$((n + 1))
    start_pair $n "$@" logfile="$T/flog-@SIDE@-$n"
    same_seen "$label: view" $n "$view"
    VIEWED=$SEEN
    same_seen "$label: requests" $n "\$PROBE \"\$uri\" $ops"
    PROBED=$SEEN
    stop_pair $n
    _same "$label: requests seen below" "$(norm_log "$T/flog-ref-$n")" "$(norm_log "$T/flog-ours-$n")"
}

norm_log() { sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ //' "$1"; }

start_pair() {
    local n=$1
    shift
    start_server "ref-$n" "$REF_NBDKIT" "${@//@SIDE@/ref}"
    start_server "ours-$n" "$NBDKIT" "${@//@SIDE@/ours}"
}

stop_pair() { stop_server "ref-$1"; stop_server "ours-$1"; }

_same() {               # _same LABEL WANT GOT
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1 (- C nbdkit, + ours)"
        diff <(echo "$2") <(echo "$3") | head -n 40
        exit 1
    fi
    SEEN=$2
    ok "$1: the same ($(wc -l <<<"$2") lines)"
}

same_seen() {
    local label=$1 n=$2 script=$3 a b
    a=$(uri=$(uri "ref-$n") bash -c "$script" 2>&1)
    b=$(uri=$(uri "ours-$n") bash -c "$script" 2>&1)
    _same "$label" "${a//ref-$n.sock/N.sock}" "${b//ours-$n.sock/N.sock}"
}

# A message's prefix names the thread that took the request ("memory.1"
# in C nbdkit for a parallel plugin), which we do not mimic; -U - puts
# the socket in a fresh directory.
norm_msgs() {
    sed -E 's/^nbdkit: ([a-z0-9_-]+)(\.[0-9]+|\[[0-9]+\]): /nbdkit: \1[*]: /
            s#/tmp/nbdkit[A-Za-z0-9]+/socket#SOCK#g; s#/tmp/nbdkit[A-Za-z0-9]+/#TMPDIR/#g'
}

same_refusal() {
    local label=$1 a b
    shift
    a=$("$REF_NBDKIT" -U - "$@" --run true 2>&1 | norm_msgs; echo "status ${PIPESTATUS[0]}")
    b=$("$NBDKIT" -U - "$@" --run true 2>&1 | norm_msgs; echo "status ${PIPESTATUS[0]}")
    grep -q '^status 0$' <<<"$a" && fail "$label: C nbdkit did not refuse: $*"
    _same "$label: refused" "$a" "$b"
}

same_logs() {
    _same "$1: server messages" "$(norm_msgs <"$T/ref-$2.log")" "$(norm_msgs <"$T/ours-$2.log")"
}

same_run() {
    local label=$1 script=$2 a b
    shift 2
    a=$("$REF_NBDKIT" -U - "$@" --run "$script" 2>&1 | norm_msgs)
    b=$("$NBDKIT" -U - "$@" --run "$script" 2>&1 | norm_msgs)
    _same "$label" "$a" "$b"
}

# --- Verbose output (tests 632-699) ------------------------------------
#   same_verbose LABEL ARGS...  serve ARGS with -v, once with C nbdkit and
#                               once with ours; run each command of the
#                               array $CLIENTS (bash, $uri set) in turn,
#                               each after the server's log has settled;
#                               stop the server; fail with a diff unless
#                               the two logs (norm_verbose) are the same.
#   norm_verbose FILE           a -v log with what differs between any two
#                               runs masked: handle addresses, temporary
#                               directories, the socket's path, which
#                               worker thread took a request (`memory.N`:
#                               the first idle one, a race in C nbdkit).
#                               Worker threads' start and exit lines, whose
#                               order C nbdkit's threads decide, are compared
#                               as a sorted list at the end.  A client that
#                               hangs up right after NBD_OPT_ABORT makes
#                               the reply's write fail (in either server,
#                               a race): that line reads as the other.
#                               This server's line saying a slow call
#                               moved requests off the event loop (when
#                               a call is slow under load) is left out.
#                               Lines matching $VERBOSE_DROP (an extended
#                               regex, if set) are left out of both.
#                               Non-ASCII bytes read as nbdkit 1.44.1
#                               escapes them (\xNN), as this server does:
#                               Debian's 1.32.5 writes them raw (compat 642
#                               compares the escaping with 1.44.1's).
norm_verbose() {
    perl -pe 's/([\x80-\xff])/sprintf("\\x%02x", ord $1)/ge' "$1" | sed -E 's/(handle|returned handle) 0x[0-9a-f]+/\1 ADDR/
            s#/tmp/nbdkit[A-Za-z0-9]+#TMPDIR#g
            s#'"$T"'/[a-z0-9-]+\.sock#SOCK#g
            s/^nbdkit: ([a-z0-9_-]+)\.[0-9]+: /nbdkit: \1.N: /
            s/write: NBD_OPT_ABORT: Broken pipe/client sent NBD_OPT_ABORT to abort the connection/' |
        grep -v ' worker thread ' | grep -Ev "${VERBOSE_DROP:-^\$}" |
        grep -Ev ': debug: a plugin call took [^ ]+: requests go to worker threads'
    echo "-- worker threads:"
    grep -o ' worker thread .*' "$1" | sort -V | uniq -c
}

_settle() {             # _settle FILE: wait until FILE stops growing (3 s at most)
    local i last=-1 now
    for i in $(seq 30); do
        now=$(stat -c %s "$1")
        [ "$now" = "$last" ] && return 0
        last=$now
        sleep 0.1
    done
}

_verbose_run() {        # _verbose_run NAME BINARY ARGS...
    local name=$1 bin=$2 c
    shift 2
    start_server "$name" "$bin" -v "$@"
    for c in "${CLIENTS[@]}"; do
        _settle "$T/$name.log"
        uri=$(uri "$name") bash -c "$c" >/dev/null 2>&1 || fail "$name: client failed: $c"
    done
    _settle "$T/$name.log"
    stop_server "$name"
}

# The -v lines nbdkit 1.44.1 added to 1.32.5's (this server prints them;
# same_verbose144 compares them with 1.44.1's).
VERBOSE_144_ONLY='^nbdkit: debug: (service mode: |NBD URI: |no NBD URI because |request processing: )'
same_verbose() {
    local label=$1
    shift
    [ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
    _verbose_run vref "$REF_NBDKIT" "$@"
    _verbose_run vours "$NBDKIT" "$@"
    # The server names its version first: C nbdkit 1.44.1's.
    need_ref144
    as_server_version <"$T/vref.log" >"$T/vref.log.new" && mv "$T/vref.log.new" "$T/vref.log"
    grep -Ev "$VERBOSE_144_ONLY" "$T/vours.log" >"$T/vours.log.new" && mv "$T/vours.log.new" "$T/vours.log"
    _same "$label: -v output" "$(norm_verbose "$T/vref.log")" "$(norm_verbose "$T/vours.log")"
}
# same_verbose144 LABEL ARGS...: as same_verbose, with C nbdkit 1.44.1 (the
# plugin and filters named by path: it loads 1.32.5's plugins, and only
# its own filters).
same_verbose144() {
    local label=$1
    shift
    need_ref144
    _verbose_run vref "$REF144" "$@"
    _verbose_run vours "$NBDKIT" "$@"
    _same "$label: -v output (1.44.1)" "$(norm_verbose "$T/vref.log")" "$(norm_verbose "$T/vours.log")"
}

# SEE: a client script (for --run or uri=...) printing what a client sees
# of an export (nbdinfo --json and --map), and, when it is writable, of
# writes, zeroes, trims and a flush read back, then a checksum of the data.
SEE='nbdinfo --json "$uri" | grep -v "\"uri\":"; nbdinfo --map "$uri"
if nbdinfo --can write "$uri"; then
  nbdsh -u "$uri" -c "
size = h.get_size()
h.pwrite(b\"\\x5a\" * 70000, min(12345, size - 70000))
h.zero(40000, 4096)
if h.can_trim(): h.trim(32768, 65536)
if h.can_fast_zero(): h.zero(65536, 131072, nbd.CMD_FLAG_FAST_ZERO)
h.zero(4096, 8192, nbd.CMD_FLAG_NO_HOLE)
h.flush()
"
  nbdinfo --map "$uri"
fi
nbdcopy "$uri" - | md5sum'
