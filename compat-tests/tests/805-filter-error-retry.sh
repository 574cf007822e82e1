#!/usr/bin/env bash
# error injects errors (per request type, by rate, by trigger file) and
# retry / retry-request recover from a plugin that fails once: the client
# sees C nbdkit's answers, the server logs the same messages, and the
# requests reaching the plugin (log filter below) are the same, reopen
# included.
# compat-timeout: 180
source "$COMPAT_LIB"
need_filters error retry retry-request log
command -v nbdsh >/dev/null || skip "no nbdsh"

all="r:0:4k w:0:4k:1 z:0:4k t:0:4k c:0:4k b:0:64k f r:8k:4k"
n=0
for oe in pread=EIO pwrite=ENOSPC zero=ENOMEM trim=EINVAL extents=EPERM cache=ESHUTDOWN; do
    op=${oe%=*} e=${oe#*=}
    {
        n=$((n + 1))
        start_pair $n --filter=error memory 1M error-$op=$e error-$op-rate=100%
        same_seen "error-$op=$e" $n "\$PROBE \"\$uri\" $all"
        [ "$op$e" = extentsEPERM ] &&         same_logs "error-$op=$e" $n
        stop_pair $n
    }
done

# error-rate=100% for every request while the trigger file exists.
n=$((n + 1))
start_pair $n --filter=error memory 1M error=ENOMEM error-rate=1 error-file="$T/trigger"
same_seen "error-file" $n "\$PROBE \"\$uri\" r:0:512 w:0:512:1; touch $T/trigger
\$PROBE \"\$uri\" r:0:512 w:0:512:1 f; rm $T/trigger; \$PROBE \"\$uri\" r:0:512"
expect_match "errors only while the trigger exists" "r:0:512 errno ENOMEM" "$SEEN"
expect_match "no error once the trigger is gone" "r:0:512 ok [0-9a-f]+\$" "$SEEN"
same_logs "error-file" $n
stop_pair $n

# A plugin whose first pread fails (a file marks that it has failed).
flaky=(eval get_size='echo 1M' can_write='exit 0' pwrite='cat >/dev/null'
       pread='if [ ! -e "$0.failed" ]; then touch "$0.failed"; echo "EIO boom" >&2; exit 1; fi
              head -c $3 /dev/zero')
retry_check() {         # retry_check LABEL ARGS...
    local label=$1
    shift
    n=$((n + 1))
    start_pair $n "$@" logfile="$T/flog-@SIDE@-$n"
    same_seen "$label" $n "\$PROBE \"\$uri\" r:0:4k r:4k:4k w:0:512:3"
    stop_pair $n
    _same "$label: requests seen by the plugin" "$(norm_log flog-ref-$n)" "$(norm_log flog-ours-$n)"
}
retry_check "retry" --filter=retry --filter=log "${flaky[@]}" retry-delay=1
expect_match "retry reopened the plugin" "connection=2 Read id=1 offset=0x0" "$SEEN"
retry_check "retry retries=0" --filter=retry --filter=log "${flaky[@]}" retries=0
retry_check "retry-request" --filter=retry-request --filter=log "${flaky[@]}" retry-request-delay=1
retry_check "retry retry-readonly" --filter=retry --filter=log "${flaky[@]}" retry-delay=1 retry-readonly=true
# An error that retrying cannot fix: the error filter below retry fails
# every pread, retries=2 gives up with the errno.
retry_check "retry gives up" --filter=retry --filter=error --filter=log memory 1M \
    retry-delay=1 retries=1 error-pread=ENOSPC error-pread-rate=1
