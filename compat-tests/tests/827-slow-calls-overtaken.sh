#!/usr/bin/env bash
# A quick request is not held behind a slow one in flight, also after the
# server has seen quick and slow calls of the same stack (our server tries
# running a stack's calls on its event loop when they look quick enough;
# such a trial must not make a read wait for a write of seconds).  As
# nbdkit's test-parallel-nbd.sh: the delay filter makes writes take 2 s
# and reads 1 s, qemu-io sends a write then a read, and the read must
# finish first, on a first connection and again on a second one.  Our
# server and C nbdkit alike.
source "$COMPAT_LIB"
qemu-io --version >/dev/null 2>&1 || skip "qemu-io not installed"
need_filters delay
order() {               # order NAME: which finished first, "read" or "wrote"
    timeout 60 qemu-io -f raw -c "aio_write -P 2 512 512" -c "aio_read -P 0 0 512" \
        -c aio_flush -c flush "$(uri "$1")" </dev/null 2>&1 |
        sed -nE 's/^(read|wrote) 512\/512 bytes at offset [0-9]+$/\1/p' | tr '\n' ' '
}
for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    start_server "$who" "$bin" --filter=delay memory 1M rdelay=1 wdelay=2
    expect_eq "$who: first connection, the quick read first" "read wrote " "$(order "$who")"
    expect_eq "$who: second connection, the quick read first" "read wrote " "$(order "$who")"
    stop_server "$who"
done
