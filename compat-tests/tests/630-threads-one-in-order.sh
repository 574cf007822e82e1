# -t 1: one request of a connection at a time, in the order sent, even
# when the client sends several in one packet; by default they run in
# parallel (a slow write then a quick read: the read finishes first).
# Our server and C nbdkit alike, through qemu-io's asynchronous requests
# and the delay filter.
source "$COMPAT_LIB"
qemu-io --version >/dev/null 2>&1 || skip "qemu-io not installed"

order() {               # order BINARY [-t N]: which of the two finished first
    local bin=$1; shift
    "$bin" "$@" -U - --filter=delay memory 1M wdelay=2 rdelay=1 --run '
        timeout 60 qemu-io -f raw -c "aio_write -P 2 512 512" -c "aio_read -P 0 0 512" \
            -c aio_flush "$nbd" </dev/null' 2>&1 | grep -oE '^(read|wrote) 512/512' | tr '\n' ' '
}
for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    expect_eq "$who: -t 1" "wrote 512/512 read 512/512 " "$(order "$bin" -t 1)"
    expect_eq "$who: default threads" "read 512/512 wrote 512/512 " "$(order "$bin")"
done
