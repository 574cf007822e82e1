# Two plugin-facing behaviours of nbdkit, compared with C nbdkit through
# Debian's eval plugin:
#  - a plugin without .list_exports whose .default_export fails: the list
#    is empty (the failure is logged), not an error reply to NBD_OPT_LIST;
#  - a plugin answering can_cache "emulate": a CACHE request is served by
#    reading, in pieces of at most 64 MiB, the pieces the plugin sees.
source "$COMPAT_LIB"
ref_plugin_exists eval || skip "Debian's eval plugin is not installed"

for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    out=$("$bin" -U - eval default_export='echo ENOENT >&2; exit 1' get_size='echo 0' \
              --run 'nbdinfo --list --json "$uri"' 2>$who-list.log) ||
        fail "$who: nbdinfo --list failed: $out $(cat $who-list.log)"
    echo "$out" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["exports"]))' \
        >$who-list.count
    grep -q 'default_export: ENOENT' $who-list.log || fail "$who: the failure was not logged"

    : >"$T/$who-reads"
    "$bin" -U - eval get_size='echo 200M' can_cache='echo emulate' \
        pread="echo \"\$3 \$4\" >>'$T/$who-reads'; dd if=/dev/zero count=\$3 iflag=count_bytes 2>/dev/null" \
        --run 'nbdsh -u "$uri" -c "h.cache(h.get_size(), 0)"' 2>$who-cache.log ||
        fail "$who: cache failed: $(cat $who-cache.log)"
done
expect_eq "exports listed when default_export fails" "$(cat ref-list.count)" "$(cat ours-list.count)"
expect_eq "exports listed when default_export fails (C nbdkit)" 0 "$(cat ref-list.count)"
expect_eq "reads made to emulate a 200 MiB CACHE" "$(cat "$T/ref-reads")" "$(cat "$T/ours-reads")"
expect_eq "C nbdkit's reads for it" "0 67108864
67108864 67108864
134217728 67108864
201326592 8388608" "$(awk '{print $2, $1}' "$T/ref-reads")"
