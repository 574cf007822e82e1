# --dump-plugin of the built-ins: name=PLUGIN among key=value lines,
# exit 0; the same keys for name and version as the reference.
source "$COMPAT_LIB"

for p in memory file null pattern; do
    out=$("$NBDKIT" --dump-plugin $p 2>&1); rc=$?
    expect_eq "--dump-plugin $p: exit status" 0 "$rc"
    expect_match "--dump-plugin $p: has name=$p" "^name=$p\$" "$(grep '^name=' <<<"$out")"
    ref=$("$REF_NBDKIT" --dump-plugin $p 2>&1)
    expect_eq "--dump-plugin $p: version= as the reference" \
        "$(grep '^version=' <<<"$ref")" "$(grep '^version=' <<<"$out")"
    expect_eq "--dump-plugin $p: thread_model= as the reference" \
        "$(grep '^thread_model=' <<<"$ref")" "$(grep '^thread_model=' <<<"$out")"
done
