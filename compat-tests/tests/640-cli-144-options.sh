# nbdkit 1.44.1's command line: the option tables, --help's usage,
# --dump-config's keys, --log=/path and --log=default, and
# -D nbdkit.environ=1, compared with C nbdkit 1.44.1.
source "$COMPAT_LIB"
need_ref144
MEM=$(ref144_plugin memory)

expect_eq "--long-options" "$("$REF144" --long-options)" "$("$NBDKIT" --long-options)"
expect_eq "--short-options" "$("$REF144" --short-options)" "$("$NBDKIT" --short-options)"
# Ours adds its own options to the usage; the rest is nbdkit's text.
ours_only='--enforce-block-size|--memory-limit=SIZE|--no-sparse-reads|--send-error-messages|--sparse-reads=exact\|all\|off'
norm_usage() { tr -s ' \n' '  ' | sed -E "s/ \[($ours_only)\]//g"; }
expect_eq "--help" "$("$REF144" --help | norm_usage)" "$("$NBDKIT" --help | norm_usage)"
expect_eq "--dump-config keys" "$("$REF144" --dump-config | cut -d= -f1)" \
    "$("$NBDKIT" --dump-config | cut -d= -f1)"
for k in exit_with_parent max_api_version run_default_socket soext timeout_option tls vsock_option; do
    expect_eq "--dump-config $k" "$("$REF144" --dump-config | grep "^$k=")" "$("$NBDKIT" --dump-config | grep "^$k=")"
done

# Abbreviations of the new options resolve or are refused as getopt_long
# does for nbdkit 1.44.1.
answer() {              # answer BINARY ARGS...
    local b=$1 out rc; shift
    out=$(timeout 10 "$b" "$@" 2>&1 </dev/null); rc=$?
    # What a refusal says (a success prints the binary's own paths).
    [ $rc = 0 ] || printf '%s\n' "$out" | head -1 | sed -E "s|^$b:|PROG:|; s|^nbdkit[^:]*:|nbdkit:|"
    echo "exit $rc"
}
for a in --k --keep --no-m --no-st --pr --sh --show --ti --time-o=1 --n --no; do
    expect_eq "$a" "$(answer "$REF144" $a --dump-plugin "$MEM")" "$(answer "$NBDKIT" $a --dump-plugin memory)"
done

# --log: a relative path is refused with nbdkit's words; an absolute one
# gets the errors (appended), stderr none; default is accepted.
expect_eq "--log=rel" "$(answer "$REF144" --log=rel "$MEM" 1M)" "$(answer "$NBDKIT" --log=rel memory 1M)"
for side in ref ours; do
    if [ $side = ref ]; then b=$REF144 p=$MEM; else b=$NBDKIT p=memory; fi
    echo "old line" > "$side.errlog"
    "$b" --log="$T/$side.errlog" "$p" 1M --run 'nbdsh -c "h.set_strict_mode(0)" -u "$uri" -c "h.pread(512, 1048576)" >/dev/null 2>&1; true' \
        2>"$side.stderr"
    grep -v '^old line$' "$side.errlog" | sed -E 's/^nbdkit[^:]*:/nbdkit:/; s/[0-9]+/N/g' > "$side.errlog.new"
    expect_eq "$side: --log=/path keeps what was there" "old line" "$(head -1 "$side.errlog")"
    expect_eq "$side: nothing on stderr with --log=/path" "" "$(cat "$side.stderr")"
    "$b" --log=default "$p" 1M --run true || fail "$side: --log=default refused"
done
expect_eq "--log=/path: the error lines" "$(cat ref.errlog.new)" "$(cat ours.errlog.new)"
[ -s ours.errlog.new ] || fail "--log=/path: no error was logged"
expect_eq "--log=/nonexistent/x" "$(answer "$REF144" --log=/nonexistent/x "$MEM" 1M)" \
    "$(answer "$NBDKIT" --log=/nonexistent/x memory 1M)"

# -D nbdkit.environ=1 with -v: one debug line per variable.
for side in ref ours; do
    if [ $side = ref ]; then b=$REF144 p=$MEM; else b=$NBDKIT p=memory; fi
    CANARY='x y' "$b" -v -D nbdkit.environ=1 "$p" 1M --run true 2>"$side.env"
    grep -c '^nbdkit[^:]*: debug: CANARY=x y$' "$side.env" > "$side.envcount"
    "$b" -D nbdkit.environ=1 "$p" 1M --run true 2>"$side.noverbose"
done
expect_eq "-D nbdkit.environ=1 -v: the variable logged" "$(cat ref.envcount)" "$(cat ours.envcount)"
expect_eq "... once" 1 "$(cat ours.envcount)"
expect_eq "-D nbdkit.environ=1 without -v: nothing" "$(cat ref.noverbose)" "$(cat ours.noverbose)"

ok "nbdkit 1.44.1's command line"
