#!/usr/bin/env bash
# Filters that decide who gets what: exportname (lists, default export,
# strict names, descriptions), ip (Unix-socket clients by uid, gid, pid)
# and limit (concurrent clients): the export lists, the exports a client
# reaches and the refusals are C nbdkit's.
source "$COMPAT_LIB"
need_filters exportname ip limit
command -v nbdsh >/dev/null || skip "no nbdsh"

# A plugin with two exports (a, b; b the default) whose data is the
# export name padded with spaces.  (The exportname filter takes
# default_export= for its own default-export=, as in C nbdkit.)
ev=(eval list_exports='printf "INTERLEAVED\na\nthe a disk\nb\nthe b disk\n"'
    default_export='echo b' export_description='echo "desc of $2"'
    open='echo "$3"' get_size='echo 4096'
    pread='printf "%-$3.$3s" "$2"')
# The export list (names, descriptions), then for each name a client asks
# for: what it reaches (size, canonical name, description, data).
cat > show.py <<'PY'
import sys
import nbd
uri = sys.argv[1]
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_uri(uri)
seen = []
try:
    h.opt_list(lambda name, desc: seen.append((name, desc)) or 0)
    print("list:", seen)
except nbd.Error as e:
    print("list errno", e.errno)
h.opt_abort()
for e in ["", "a", "b", "zz"]:
    h = nbd.NBD()
    h.set_full_info(True)
    try:
        h.connect_uri(uri.replace("?", e + "?", 1))
        try:
            d = h.get_export_description()
        except nbd.Error:
            d = None
        print("export [%s]:" % e, h.get_size(), h.get_canonical_export_name(), d, h.pread(2, 0))
        h.shutdown()
    except nbd.Error as x:
        print("export [%s]: errno %s" % (e, x.errno))
PY
show="/usr/bin/python3 $T/show.py \"\$uri\""
n=0
for args in "" "default-export=a" "exportname-list=error" "exportname-list=empty" \
            "exportname-list=defaultonly" "exportname-list=explicit exportname=a exportname=new" \
            "exportname-strict=true exportname=a" "exportdesc=none" "exportdesc=fixed:FIXED" \
            "exportdesc=script:'echo script says \$name'"; do
    n=$((n + 1))
    eval "start_pair $n --filter=exportname \"\${ev[@]}\" $args"
    same_seen "exportname $args" $n "$show"
    stop_pair $n
done
expect_match "script descriptions" "'a', 'script says a'" "$SEEN"

# ip: Unix-socket clients by uid, gid and pid.
me=$(id -u) grp=$(id -g)
for rule in "allow=uid:$me deny=all" "allow=gid:$grp deny=all" "deny=allunix" \
            "allow=uid:$((me + 1)) deny=anyunix" "deny=pid:1" "allow=127.0.0.1,::1 deny=all" \
            "deny=uid:$me"; do
    # shellcheck disable=SC2086
    # How libnbd words a refusal varies: compare the outcome.
    same_run "ip $rule" 'nbdinfo --size "$uri" 2>/dev/null; echo "status $?"' --filter=ip memory 1M $rule
done
expect_match "ip: a refused client" "status 1" "$SEEN"

# limit: a second client while the first is connected is refused.
hold='nbdsh -u "$uri" -c "import time; time.sleep(2); print(\"first\", h.get_size())" &
sleep 0.8; nbdinfo --size "$uri" 2>/dev/null; echo "second: status $?"; wait
# The server frees the first slot a moment after the client has gone.
for i in $(seq 30); do nbdinfo --size "$uri" 2>/dev/null && break; sleep 0.1; done
echo "third: status $?"'
# (A refusal is logged once per attempt: repeated lines are counted once.)
limit_run() {
    local label=$1 a b
    shift
    a=$("$REF_NBDKIT" -U - "$@" --run "$hold" 2>&1 | norm_msgs | awk '!seen[$0]++')
    b=$("$NBDKIT" -U - "$@" --run "$hold" 2>&1 | norm_msgs | awk '!seen[$0]++')
    _same "$label" "$a" "$b"
}
limit_run "limit=1" --filter=limit memory 1M
expect_match "limit=1 refused the second client" "second: status 1" "$SEEN"
expect_match "limit=1 served the third client" "third: status 0" "$SEEN"
limit_run "limit=2" --filter=limit memory 1M limit=2
limit_run "limit=0" --filter=limit memory 1M limit=0
