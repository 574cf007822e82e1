# Extended headers with qemu 10's NBD client (qemu-io, qemu-img), which
# negotiates them: 64-bit block status in one reply, NONE chunks for
# success, hole chunks for zeroed reads, the data intact, and no
# compliance complaint from qemu.  The same map as C nbdkit 1.32.5 gives
# (which qemu talks to with structured replies only).
source "$COMPAT_LIB"
command -v qemu-io >/dev/null || skip "qemu-io not installed"

start_server ours "$NBDKIT" -v memory 16G
start_server ref "$REF_NBDKIT" memory 16G

traces=(--trace 'nbd_send_request' --trace 'nbd_receive_reply_chunk_header'
        --trace 'nbd_*compliance' --trace 'nbd_opt_*')
for n in ours ref; do
    must qemu-io -f raw -c 'write -P 0x55 12G 1M' -c 'write -P 0x33 4095M 2M' \
        -c 'write -z 12G 64k' -c 'write -P 0x44 1G 4k' "$(uri $n)" >/dev/null
done

out=$(qemu-io "${traces[@]}" -f raw -c 'read -P 0x55 12582976k 960k' -c 'read -P 0 12G 64k' \
      -c 'read -P 0x33 4095M 2M' -c 'write -P 0x44 1G 4k' -c 'read -P 0x44 1G 4k' \
      "$(uri ours)" 2>&1) || fail "qemu-io against ours: $out"
grep -q "newstyle negotiation: NBD_OPT_EXTENDED_HEADERS" ours.log ||
    fail "qemu did not ask for extended headers (server log)"
expect_match "a zeroed range is read as a hole chunk" 'type = 2 \(hole\)' "$out"
expect_match "writes are answered with a NONE chunk (no simple replies)" \
    'type = 0 \(none\), cookie = [0-9]+, length = 0' "$out"
if grep -Eq "compliance|simple reply" <<<"$out"; then
    fail "qemu complained about the replies: $(grep -E 'compliance|simple reply' <<<"$out" | head -3)"
fi
ok "qemu read back the data with no compliance complaint"

map_ours=$(qemu-img "${traces[@]}" map --output=json "$(uri ours)" 2>ours-map.trace) ||
    fail "qemu-img map against ours failed"
map_ref=$(qemu-img map --output=json "$(uri ref)")
expect_eq "qemu-img map, ours vs nbdkit 1.32.5" "$map_ref" "$map_ours"
grep -Eq 'type = 6 \(block status \(64-bit\)\)' ours-map.trace ||
    fail "no BLOCK_STATUS_EXT reply in qemu's trace"
# One request for the whole 16 GiB disk, answered by descriptors longer
# than 32 bits can hold.
grep -Eq '\.len = 17179869184, .*type = 7 \(block status\)' ours-map.trace ||
    fail "qemu did not send a 64-bit block status request"
if grep -q compliance ours-map.trace; then
    fail "qemu complained: $(grep compliance ours-map.trace | head -3)"
fi
expect_match "an 8 GiB hole is one extent" '"start": 4296015872, "length": 8588951552' "$map_ours"

# The whole disk reads the same through extended headers as from C
# nbdkit (qemu-img compare reads every data extent of both).
must qemu-img compare -f raw -F raw "$(uri ours)" "$(uri ref)"
ok "qemu-img compare: ours and nbdkit 1.32.5 hold the same 16 GiB"
