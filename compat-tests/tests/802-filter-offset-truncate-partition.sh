#!/usr/bin/env bash
# Filters that move or clip the export: offset (offset=, range=), truncate
# (truncate=, round-up=, round-down=) and partition (MBR and GPT made by
# the partitioning plugin) serve what C nbdkit serves: json, map (extents
# shifted and clipped), data, and each request's answer at and past the
# new end.  The data seen is the right slice of the plugin's data.
source "$COMPAT_LIB"
need_filters offset truncate partition

ops="r:0:4k r:1:1000 w:512:1024:9:fua r:0:4k z:4k:8k t:0:4k b:0:64k b:1000:64k:reqone c:0:8k f"
data=(data '1 2 3 @65536 4 5 @^4096 0xff @200000 (0x11 0x22)*100' size=300000)
n=0
check() {               # check LABEL ARGS...: leaves pair $n running
    local label=$1
    shift
    n=$((n + 1))
    start_pair $n "$@"
    same_seen "$label: view" $n "$VIEW"
    same_seen "$label: requests" $n "\$PROBE \"\$uri\" $ops"
}

start_server plain "$REF_NBDKIT" -r "${data[@]}"
nbdcopy "$(uri plain)" plain.img
stop_server plain

check "offset=1000 range=100000" -r --filter=offset "${data[@]}" offset=1000 range=100000
expect_eq "offset serves the plugin's bytes 1000..101000" \
    "$(tail -c +1001 plain.img | head -c 100000 | md5sum)" "$(nbdcopy "$(uri ours-$n)" - | md5sum)"
stop_pair $n
for a in "offset=1000 range=100000" "offset=65536" "offset=200001 range=200" \
         "truncate=70000" "truncate=1M" "round-up=65536" "round-down=4096"; do
    case $a in offset*) f=offset ;; *) f=truncate ;; esac
    # shellcheck disable=SC2086
    check "$f $a" --filter=$f "${data[@]}" $a
    stop_pair $n
done
check "truncate=70000 -r" -r --filter=truncate "${data[@]}" truncate=70000
expect_eq "truncate serves the plugin's first 70000 bytes" \
    "$(head -c 70000 plain.img | md5sum)" "$(nbdcopy "$(uri ours-$n)" - | md5sum)"
stop_pair $n

# offset and truncate stacked, in both orders (they give different disks).
check "offset over truncate" -r --filter=offset --filter=truncate "${data[@]}" \
    offset=4096 range=70000 truncate=65536
stop_pair $n
check "truncate over offset" -r --filter=truncate --filter=offset "${data[@]}" \
    offset=4096 range=70000 truncate=65536
stop_pair $n

# Partitions: two files in an MBR and a GPT disk image, each partition
# served through the partition filter.
head -c 200000 /dev/urandom > p1
head -c 70000 /dev/urandom > p2
for type in mbr gpt; do
    for p in 1 2; do
        check "partition=$p of $type" -r --filter=partition partitioning p1 p2 \
            partition-type=$type partition=$p
        size=$(stat -c %s p$p)
        expect_eq "partition $p of $type holds p$p" "$(md5sum <p$p)" \
            "$(nbdcopy "$(uri ours-$n)" - | head -c "$size" | md5sum)"
        stop_pair $n
    done
done
# A partition that does not exist: the client is refused, as by C nbdkit.
same_run "partition=3 of 2" 'nbdinfo --size "$uri"; echo "status $?"' \
    -r --filter=partition partitioning p1 p2 partition=3
expect_match "partition=3 is refused" "partition 3 not found" "$SEEN"
