#!/usr/bin/env bash
# The lines the log filter writes (logfile, logappend, logscript; every
# request type, errors, export listing, several connections) and the
# statistics the stats filter writes at exit are C nbdkit's (less
# timestamps, durations and rates).
source "$COMPAT_LIB"
need_filters log stats error

ops="r:0:4k w:0:4k:1:fua z:0:4k:fua+fast t:0:4k c:0:4k b:0:64k b:0:64k:reqone f r:8k:4k w:3:1000:1 r:2M:1"
n=1
echo "an old line" > flog-ref; cp flog-ref flog-ours
start_pair $n --filter=log --filter=error memory 1M logfile="$T/flog-@SIDE@" \
    error-trim=EIO error-trim-rate=1
same_seen "log: requests" $n "\$PROBE \"\$uri\" $ops; nbdinfo --list \"\$uri\" >/dev/null; \$PROBE \"\$uri\" r:0:1"
stop_pair $n
_same "log: logfile" "$(norm_log flog-ref)" "$(norm_log flog-ours)"
expect_match "log: an error is logged" "Trim id=[0-9]+ return=-1 error=EIO" "$SEEN"
expect_match "log: the file was truncated" "^[0-9-]+ [0-9:.]+ Ready" "$(head -n1 flog-ours)"

n=2
start_pair $n --filter=log memory 1M logfile="$T/flog-@SIDE@" logappend=true
same_seen "logappend: requests" $n "\$PROBE \"\$uri\" r:0:512"
stop_pair $n
_same "logappend: logfile" "$(norm_log flog-ref)" "$(norm_log flog-ours)"
expect_match "logappend kept the old lines" "Disconnect transactions=" "$(head -n 40 flog-ours)"

# logscript: one line per event with the script's shell variables.
n=3
script='echo "$type $act ${connection:-} ${id:-} ${offset:-} ${count:-} ${return:-} ${error:-}" >> '"$T"'/slog-@SIDE@'
start_pair $n --filter=log --filter=error memory 1M logscript="$script" \
    error-zero=ENOSPC error-zero-rate=1
same_seen "logscript: requests" $n "\$PROBE \"\$uri\" $ops"
stop_pair $n
# The script runs in the background: lines may come in any order.
_same "logscript: lines" "$(sort slog-ref)" "$(sort slog-ours)"
expect_match "logscript: an error" "LEAVE Zero 1 [0-9]+ +-1 ENOSPC" "$SEEN"

# stats: counts, sizes and the histogram; times and rates vary.
norm_stats() {
    sed -E 's/[0-9]+\.[0-9]+ s/T s/; s/([0-9.]+ ([KMGT]i)?B|[0-9.]+ bytes|\(n\/a\))\/s/R\/s/g' "$1"
}
for threshold in "" statsthreshold=100; do
    n=$((n + 1))
    start_pair $n --filter=stats memory 1M statsfile="$T/stats-@SIDE@" $threshold
    same_seen "stats $threshold: requests" $n "\$PROBE \"\$uri\" $ops; \$PROBE \"\$uri\" w:1:1:1"
    stop_pair $n
    _same "stats $threshold: statsfile" "$(norm_stats stats-ref)" "$(norm_stats stats-ours)"
done
expect_match "stats: reads counted" "^read: 2 ops" "$SEEN"
expect_match "stats: writes counted" "^write: 3 ops" "$SEEN"
