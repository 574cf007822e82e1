# Two requests sent back to back to a parallel C plugin run at the same
# time, each on its own worker: a slow read does not hold up a quick one
# behind it (the pool once woke the same idle worker for both, so they ran
# one after the other).  With -t 1 they run in order.  Debian's sh plugin,
# our server and C nbdkit alike, through qemu-io's asynchronous reads.
source "$COMPAT_LIB"
qemu-io --version >/dev/null 2>&1 || skip "qemu-io not installed"
ref_plugin_exists sh || skip "Debian's sh plugin is not installed"

cat >slow.sh <<'SH'
case $1 in
  thread_model) echo parallel ;;
  get_size) echo 1024 ;;
  pread) if [ "$4" = 512 ]; then sleep 2; fi; head -c "$3" /dev/zero ;;
  *) exit 2 ;;
esac
SH
chmod +x slow.sh
order() {               # order BINARY [-t N]: offsets in the order the reads finished
    local bin=$1; shift
    "$bin" "$@" -U - sh ./slow.sh --run '
        timeout 60 qemu-io -r -f raw -c "aio_read 512 512" -c "aio_read 0 512" \
            -c aio_flush "$nbd" </dev/null' 2>&1 |
        sed -nE 's/^read 512\/512 bytes at offset ([0-9]+)$/\1/p' | tr '\n' ' '
}
for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    expect_eq "$who: default threads, the quick read first" "0 512 " "$(order "$bin")"
    expect_eq "$who: -t 1, in order" "512 0 " "$(order "$bin" -t 1)"
done
