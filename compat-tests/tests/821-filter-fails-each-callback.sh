#!/usr/bin/env bash
# A C filter that fails in one callback chosen by fail= (c-plugins/
# filter-fail.c), for every callback of struct nbdkit_filter: what the
# clients see, the server's messages and its exit status are C nbdkit's;
# with fail=NAME-once the next client is served normally.
# compat-timeout: 240
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
need_filters
F=$C_PLUGINS/filter-fail.so
[ -e "$F" ] || skip "C test filters not built"

ops="r:0:512 w:0:512:1 z:0:512 t:0:512 f b:0:4k c:0:512"
probe="\$PROBE \"\$uri\" $ops; echo \"probe status \$?\"
\$PROBE \"\$uri\" r:0:512; echo \"second client status \$?\""
for cb in config_complete get_ready; do
    same_refusal "fail=$cb" --filter="$F" memory 1M fail=$cb
done
# after_fork runs once serving has begun (in the foreground here: with
# --run the exit status races with the command's).
a=$("$REF_NBDKIT" -f -U "$T/af-ref.sock" --filter="$F" memory 1M fail=after_fork 2>&1; echo "status $?")
b=$("$NBDKIT" -f -U "$T/af-ours.sock" --filter="$F" memory 1M fail=after_fork 2>&1; echo "status $?")
_same "fail=after_fork" "$a" "$b"
expect_match "fail=after_fork: the server exits" "status 1" "$b"
# Callbacks of a connection's start and end: the first client meets the
# failure, the next one is served.
same_run "fail=list_exports-once" "nbdinfo --list \"\$uri\"; echo \"list status \$?\"; $probe" \
    --filter="$F" memory 1M fail=list_exports-once
for cb in preconnect default_export open prepare finalize get_size \
          export_description block_size can_write can_flush is_rotational can_trim \
          can_zero can_fast_zero can_extents can_fua can_multi_conn can_cache; do
    same_run "fail=$cb-once" "$probe" --filter="$F" memory 1M fail=$cb-once
    expect_match "fail=$cb-once: the next client is served" "second client status 0" "$SEEN"
done
# Requests: each fails with the filter's errno, the connection goes on.
for cb in pread pwrite flush trim zero extents cache; do
    same_run "fail=$cb" "$probe" --filter="$F" memory 1M fail=$cb
    expect_match "fail=$cb: the request fails" "errno E(NOSPC|PERM)" "$SEEN"
done
