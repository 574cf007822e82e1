# Bash completion (bash-completion/nbdkit, installed by `make install`
# and the package): in a real bash with bash-completion loaded, our
# completion function and Debian's (the nbdkit package's script) are
# called the way bash calls them (COMP_WORDS, COMP_CWORD, COMP_LINE,
# COMP_POINT) for the same command lines, both asking the server under
# test for its options, plugins and filters.  They must offer the same
# words, and the words a user expects (--fil gives --filter).  Where
# Debian's guesses the plugin wrongly (after an option's value, for a
# name with a dash) or offers plugin names for an option's value, ours
# is checked against what it should offer instead.
source "$COMPAT_LIB"

bash_completion=/usr/share/bash-completion/bash_completion
[ -r "$bash_completion" ] || skip "bash-completion is not installed (scripts/install-deps.sh)"
# Debian's script, wherever a diversion (our package) may have put it.
debian_script=$(dpkg-divert --truename /usr/share/bash-completion/completions/nbdkit)
[ -r "$debian_script" ] || skip "Debian's nbdkit completion is not installed"
ours_script=$REPO/bash-completion/nbdkit

# `nbdkit` on PATH is the server under test, for both scripts.
mkdir bin
ln -s "$NBDKIT" bin/nbdkit
plugindir=$("$NBDKIT" --dump-config | sed -n 's/^plugindir=//p')
filterdir=$("$NBDKIT" --dump-config | sed -n 's/^filterdir=//p')
[ -e "$plugindir/nbdkit-memory-plugin.so" ] && [ -e "$filterdir/nbdkit-cow-filter.so" ] ||
    skip "Debian's plugins and filters are not in $plugindir, $filterdir"

# complete.sh FUNCTION LINE: the sorted words FUNCTION offers with the
# cursor at the end of LINE.  COMP_WORDS is split as bash splits it with
# the default COMP_WORDBREAKS for these lines: at blanks, and "=" a word
# of its own.
cat > complete.sh <<'EOF'
source "$BASH_COMPLETION"
source "$SCRIPT"
fn=$1 line=$2
COMP_LINE=$line
COMP_POINT=${#line}
words=()
for w in $line; do
    while [[ $w == *=* ]]; do
        [[ -n ${w%%=*} ]] && words+=("${w%%=*}")
        words+=("=")
        w=${w#*=}
    done
    [[ -n $w ]] && words+=("$w")
done
[[ $line == *" " ]] && words+=("")
COMP_WORDS=("${words[@]}")
COMP_CWORD=$(( ${#words[@]} - 1 ))
COMPREPLY=()
"$fn" nbdkit "${words[COMP_CWORD]}" "${words[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
EOF

complete_with() {       # complete_with ours|debian LINE
    local fn=_nbdkit_rs_complete script=$ours_script
    [ "$1" = debian ] && fn=_nbdkit script=$debian_script
    PATH=$T/bin:$PATH BASH_COMPLETION=$bash_completion SCRIPT=$script \
        bash --norc --noprofile complete.sh "$fn" "$2" 2>complete.err
}

# The same words as Debian's completion, and (where given) these words.
same_as_debian() {      # same_as_debian LINE [EXPECTED]
    local ours debian
    ours=$(complete_with ours "$1") || fail "ours failed on '$1': $(cat complete.err)"
    debian=$(complete_with debian "$1") || fail "Debian's failed on '$1': $(cat complete.err)"
    [ -s complete.err ] && fail "'$1' wrote to stderr: $(cat complete.err)"
    expect_eq "'$1<TAB>' as Debian's completion" "$debian" "$ours"
    [ $# -lt 2 ] || expect_eq "'$1<TAB>'" "$2" "$ours"
}

ours_only() {           # ours_only LINE EXPECTED: where ours does better
    local ours debian
    ours=$(complete_with ours "$1") || fail "ours failed on '$1': $(cat complete.err)"
    debian=$(complete_with debian "$1")
    expect_eq "'$1<TAB>' (Debian's offers: ${debian:0:60})" "$2" "$ours"
}

all_long=$("$NBDKIT" --long-options | sort | tr '\n' ' ' | sed 's/ $//')
all_plugins=$(ls "$plugindir" | sed 's/^nbdkit-//; s/-plugin.*//' | sort | tr '\n' ' ' | sed 's/ $//')
all_filters=$(ls "$filterdir" | sed 's/^nbdkit-//; s/-filter.*//' | sort | tr '\n' ' ' | sed 's/ $//')

# Options.
same_as_debian "nbdkit --fil" "--filter"
same_as_debian "nbdkit --" "$all_long"
same_as_debian "nbdkit -"
same_as_debian "nbdkit --v" "--verbose --version --vsock"
same_as_debian "nbdkit --tls-" "--tls-certificates --tls-psk --tls-verify-peer"
same_as_debian "nbdkit -r -f --exit" "--exit-with-parent"
same_as_debian "nbdkit memory 1G --read" "--read-only --readonly"
# nbdkit 1.44.1's options.
same_as_debian "nbdkit --keep" "--keep-alive --keepalive"
same_as_debian "nbdkit --no-m" "--no-mc --no-meta-contexts"
same_as_debian "nbdkit --print" "--print-uri --print-url"
same_as_debian "nbdkit --sho" "--show-uri --show-url"
short=$(complete_with ours "nbdkit -")
for o in -r -f -U -v --filter; do
    [[ " $short " == *" $o "* ]] || fail "'nbdkit -<TAB>' lacks $o: $short"
done
ok "'nbdkit -<TAB>' offers short and long options"

# Values of --filter and --tls, as a separate word and after "=".
same_as_debian "nbdkit --filter co" "cow"
same_as_debian "nbdkit --filter=co" "cow"
same_as_debian "nbdkit --filter " "$all_filters"
same_as_debian "nbdkit --filter=cow --filter=cache" "cache cacheextents"
same_as_debian "nbdkit --tls r" "require"
same_as_debian "nbdkit --tls=" "off on require"

# Plugin names, then the plugin's KEY= parameters.
same_as_debian "nbdkit mem" "memory"
same_as_debian "nbdkit " "$all_plugins"
same_as_debian "nbdkit -r --filter=cow pat" "pattern"
same_as_debian "nbdkit memory si" "size="
same_as_debian "nbdkit -r file ca" "cache="
same_as_debian "nbdkit memory "
if [ -e "$plugindir/nbdkit-python-plugin.so" ]; then
    same_as_debian "nbdkit pyt" "python"
fi

# Where ours differs from Debian's on purpose.
ours_only "nbdkit -p 10809 mem" "memory"
ours_only "nbdkit -U /tmp/s -e exp pat" "pattern"
ours_only "nbdkit sparse-random se" "seed="
ours_only "nbdkit --log " "default null stderr syslog"
ours_only "nbdkit --log=s" "stderr syslog"
ours_only "nbdkit --log=d" "default"
mkdir -p logs && touch logs/server.log
ours_only "nbdkit --log=$T/logs/s" "$T/logs/server.log"
ours_only "nbdkit --sparse-reads " "all exact off"
ours_only "nbdkit --sparse-reads exact mem" "memory"
ours_only "nbdkit -U " ""
ours_only "nbdkit -u roo" "root"

# Registered for the command, with file names as the fallback.
reg=$(bash --norc --noprofile -c "source $bash_completion; source $ours_script; complete -p nbdkit")
expect_eq "registered for nbdkit" "complete -o default -F _nbdkit_rs_complete nbdkit" "$reg"
