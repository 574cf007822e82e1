#!/usr/bin/env bash
# Pass-through layers: 1 and 3 `--filter=nofilter` over memory, file, data
# and sparse-random give what C nbdkit gives with the same layers (json,
# map, data, each request type's answer), and --version / --dump-plugin
# with filters print what C nbdkit prints.
source "$COMPAT_LIB"
need_filters nofilter noparallel

head -c 300000 /dev/urandom > f-ref; cp f-ref f-ours
ops="r:0:4k w:1k:10:7 r:0:4k z:0:64k:fua t:4k:4k f c:0:4k b:0:1M b:0:1M:reqone r:0:300000"
n=0
for layers in "--filter=nofilter" "--filter=nofilter --filter=nofilter --filter=nofilter"; do
    for plugin in "memory 1M" "file $T/f-@SIDE@" "data '1 2 3 @65536 4' size=1M" \
                  "sparse-random 4M seed=5"; do
        n=$((n + 1))
        eval "start_pair $n $layers $plugin"
        same_seen "$layers $plugin: view" $n "$VIEW"
        same_seen "$layers $plugin: requests" $n "\$PROBE \"\$uri\" $ops"
        stop_pair $n
    done
done

# --version lists each filter (the server's own line is C nbdkit
# 1.44.1's); --dump-plugin shows the thread model the filters allow
# (noparallel serializes requests), then, as nbdkit 1.36 and later, each
# filter's NAME_path= and NAME_name= from the inside out.
need_ref144
want=$("$REF_NBDKIT" --filter=nofilter --filter=noparallel memory --version 2>&1 | as_server_version)
got=$("$NBDKIT" --filter=nofilter --filter=noparallel memory --version 2>&1)
_same "--version with two filters" "$want" "$got"
expect_match "--version names the filters" "nofilter 1.32.5" "$got"
want=$("$REF_NBDKIT" --filter=nofilter --filter=noparallel null --dump-plugin 2>&1 | grep -v '^path=')
all=$("$NBDKIT" --filter=nofilter --filter=noparallel null --dump-plugin 2>&1 | grep -v '^path=')
got=$(grep -Ev '^no(filter|parallel)_(path|name)=' <<<"$all")
_same "--dump-plugin with filters" "$want" "$got"
expect_eq "--dump-plugin: the filters' own lines, last" \
    "noparallel_path=$FILTERDIR/nbdkit-noparallel-filter.so
noparallel_name=noparallel
nofilter_path=$FILTERDIR/nbdkit-nofilter-filter.so
nofilter_name=nofilter" "$(tail -n 4 <<<"$all")"
expect_match "thread model under noparallel" "^thread_model=serialize_requests" "$got"
