//! The command line, parsed as nbdkit 1.44 parses it (GNU getopt_long with
//! argument permutation), with its messages and exit codes.

use crate::debug_flag::DebugFlag;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

pub const USAGE: &str = "\
nbdkit [-4|--ipv4-only] [-6|--ipv6-only]
       [-D|--debug PLUGIN|FILTER|nbdkit.FLAG=N]
       [--enforce-block-size]
       [--exit-with-parent] [-e|--exportname EXPORTNAME]
       [--filter=FILTER ...] [-f|--foreground]
       [-g|--group GROUP] [-i|--ipaddr IPADDR] [--keepalive]
       [--log=default|stderr|syslog|null|/path]
       [--mask-handshake=MASK] [--memory-limit=SIZE] [-n|--newstyle]
       [--no-mc|--no-meta-contexts] [--no-sparse-reads]
       [--no-sr|--no-structured-replies] [-o|--oldstyle]
       [-P|--pidfile PIDFILE] [-p|--port PORT] [--print-uri]
       [-r|--readonly] [--run 'COMMAND ARGS ...']
       [--selinux-label=LABEL] [--send-error-messages]
       [-s|--single] [--sparse-reads=exact|all|off] [--swap]
       [-t|--threads THREADS] [--timeout=TIMEOUT]
       [--tls=off|on|require]
       [--tls-certificates=/path/to/certificates]
       [--tls-psk=/path/to/pskfile] [--tls-verify-peer]
       [-U|--unix SOCKET|-] [-u|--user USER]
       [-v|--verbose] [--vsock]
       PLUGIN [[KEY=]VALUE [KEY=VALUE [...]]]

nbdkit --dump-config

nbdkit PLUGIN --dump-plugin

nbdkit --help

nbdkit [-V|--version]

Network Block Device (NBD) is a network protocol for accessing block
devices over the network.  Block devices are hard disks and things that
behave like hard disks such as disk images and virtual machines.

nbdkit is both a toolkit for creating NBD servers from “unconventional”
sources, and the name of an NBD server.  nbdkit ships with many plugins
for performing common tasks like serving local files.

Please read the nbdkit(1) manual page for full usage.
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTo {
    /// No `--log` (or `--log=default`): stderr in the foreground, syslog
    /// once forked.
    Default,
    Stderr,
    Syslog,
    Null,
    /// `--log=/path`: appended to that file.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Help,
    Version,
    DumpConfig,
    DumpPlugin,
    /// `--long-options` / `--short-options` (bash completion): print the
    /// table, exit 0, at the point of the command line where they stand.
    LongOptions,
    ShortOptions,
}

/// `-U`: a socket path (made absolute), or `-` for one in a new private
/// temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixSocket {
    Temp,
    Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// `--dump-plugin` was given (even if `--help` or `--version` wins).
    pub dump_plugin: bool,
    pub foreground: bool,
    pub verbose: bool,
    pub readonly: bool,
    /// `-e`: bytes as given, shown lossily where it must be text.
    pub export_name: String,
    /// `-t`: requests in flight per connection (nbdkit's threads per
    /// connection); 0 means the default.
    pub threads: usize,
    /// `--memory-limit`: bytes requests in flight may hold server-wide
    /// (None: derived from the machine).
    pub memory_limit: Option<u64>,
    pub port: Option<String>,
    pub unix: Option<UnixSocket>,
    pub ipaddr: Option<String>,
    pub ipv4_only: bool,
    pub ipv6_only: bool,
    pub vsock: bool,
    /// Socket activation (`LISTEN_FDS` sockets from fd 3), set by main
    /// from the environment.
    pub socket_activation: Option<usize>,
    pub pidfile: Option<PathBuf>,
    pub oldstyle: bool,
    pub no_sr: bool,
    /// `--no-meta-contexts`: refuse NBD_OPT_SET_META_CONTEXT and
    /// NBD_OPT_LIST_META_CONTEXT.
    pub no_mc: bool,
    /// `--keepalive`: SO_KEEPALIVE on accepted connections.
    pub keepalive: bool,
    /// `--print-uri`: print the URI that reaches the server once it is
    /// ready.
    pub print_uri: bool,
    /// `--sparse-reads=` (`--no-sparse-reads` is `off`): which plugins
    /// may have large reads answered with hole chunks from their extents.
    pub sparse_reads: crate::sparse_read::SparseReads,
    /// `--enforce-block-size`: requests breaking the plugin's advertised
    /// block sizes are refused with EINVAL before it is called (nbdkit
    /// passes them on).
    pub enforce_block_size: bool,
    /// `--send-error-messages`: a failed request's error chunk carries the
    /// reason (the plugin's `nbdkit_error` words); nbdkit sends none.
    pub send_error_messages: bool,
    /// `--timeout`: how long a client may take to negotiate (`None`: no
    /// limit, the default, or `--timeout=0`).
    pub timeout: Option<std::time::Duration>,
    pub mask_handshake: u32,
    pub run: Option<OsString>,
    pub single: bool,
    pub exit_with_parent: bool,
    pub swap: bool,
    pub selinux_label: Option<OsString>,
    pub filters: Vec<String>,
    /// `-D NAME.FLAG=N`, the last given first: nbdkit keeps them newest
    /// first, and applies and warns about them in that order.
    pub debug_flags: Vec<DebugFlag>,
    pub log: LogTo,
    /// `--tls`: None when not given (TLS is then on if certificates load).
    pub tls: Option<crate::protocol::negotiate::TlsMode>,
    pub tls_certificates: Option<String>,
    pub tls_psk: Option<String>,
    pub tls_verify_peer: bool,
    pub user: Option<OsString>,
    pub group: Option<OsString>,
    pub plugin: Option<OsString>,
    /// Where the plugin name stands in the arguments (to run a script
    /// plugin without it).
    pub plugin_index: Option<usize>,
    /// Arguments after the plugin, bytes as given: `(Some(key), value)`
    /// or `(None, value)` for a bare value given to the magic config key.
    pub params: Vec<(Option<String>, OsString)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Serve,
            dump_plugin: false,
            foreground: false,
            verbose: false,
            readonly: false,
            export_name: String::new(),
            threads: 0,
            memory_limit: None,
            port: None,
            unix: None,
            ipaddr: None,
            ipv4_only: false,
            ipv6_only: false,
            vsock: false,
            socket_activation: None,
            pidfile: None,
            oldstyle: false,
            no_sr: false,
            no_mc: false,
            keepalive: false,
            print_uri: false,
            sparse_reads: crate::sparse_read::SparseReads::Exact,
            send_error_messages: false,
            enforce_block_size: false,
            timeout: None,
            mask_handshake: u32::MAX,
            run: None,
            single: false,
            exit_with_parent: false,
            swap: false,
            selinux_label: None,
            filters: Vec::new(),
            debug_flags: Vec::new(),
            log: LogTo::Default,
            tls: None,
            tls_certificates: None,
            tls_psk: None,
            tls_verify_peer: false,
            user: None,
            group: None,
            plugin: None,
            plugin_index: None,
            params: Vec::new(),
        }
    }
}

/// How a command-line error is printed: getopt's own complaints carry the
/// program name and are followed by the usage text; nbdkit's checks print
/// `nbdkit: MSG`, and parsing errors `nbdkit: error: MSG` (as
/// `nbdkit_error` does), sometimes followed by a second line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Getopt,
    Plain,
    Error,
}

/// A command-line error: its lines (without the prefix) and how to print
/// them.  Exit status 1 in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub kind: ErrorKind,
    pub msg: String,
    /// A line printed as it is after `msg`.
    pub then: Option<String>,
}

fn plain(msg: impl Into<String>) -> CliError {
    CliError {
        kind: ErrorKind::Plain,
        msg: msg.into(),
        then: None,
    }
}

fn error(msg: impl Into<String>) -> CliError {
    CliError {
        kind: ErrorKind::Error,
        msg: msg.into(),
        then: None,
    }
}

fn getopt(msg: impl Into<String>) -> CliError {
    CliError {
        kind: ErrorKind::Getopt,
        msg: msg.into(),
        then: None,
    }
}

/// A `key=value` parameter has a key of letters, digits, `_`, `-` and `.`,
/// not starting with a digit or `-`; otherwise (a path, say) the whole
/// argument is a value for the magic config key.
fn split_param(arg: &OsStr) -> (Option<String>, OsString) {
    let b = arg.as_bytes();
    if let Some(eq) = b.iter().position(|c| *c == b'=') {
        let k = &b[..eq];
        let valid = k
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
            && k.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if valid {
            let key = String::from_utf8_lossy(k).into_owned();
            return (Some(key), OsStr::from_bytes(&b[eq + 1..]).to_owned());
        }
    }
    (None, arg.to_owned())
}

const DEBUG_FORMAT: &str = "-D (Debug Flag) must have the format NAME.FLAG=N";

/// `-D NAME.FLAG=N`: NAME and FLAG non-empty (FLAG may contain dots), N a
/// C integer.
fn parse_debug_flag(s: &[u8]) -> Result<DebugFlag, CliError> {
    let format = || plain(DEBUG_FORMAT);
    let dot = s.iter().position(|c| *c == b'.').ok_or_else(format)?;
    let eq = s.iter().position(|c| *c == b'=').ok_or_else(format)?;
    let (name, flag, val) = (&s[..dot], s.get(dot + 1..eq), &s[eq + 1..]);
    let flag = flag.filter(|f| !f.is_empty()).ok_or_else(format)?;
    if name.is_empty() || val.is_empty() {
        return Err(format());
    }
    let value = crate::parse::integer("flag", val, true, i32::MIN as i128, i32::MAX as i128)
        .map_err(|m| CliError {
            kind: ErrorKind::Error,
            msg: m.to_string(),
            then: Some(format!("nbdkit: {DEBUG_FORMAT}")),
        })?;
    Ok(DebugFlag {
        name: String::from_utf8_lossy(name).into_owned(),
        flag: String::from_utf8_lossy(flag).into_owned(),
        value: value as i32,
    })
}

/// An unsigned option value, parsed as `nbdkit_parse_unsigned(what, ..)`.
fn parse_unsigned(what: &str, v: &[u8]) -> Result<u32, CliError> {
    crate::parse::integer(what, v, false, 0, u32::MAX as i128)
        .map(|v| v as u32)
        .map_err(|e| error(e.to_string()))
}

/// `path` made absolute against the current directory, as nbdkit does for
/// the paths it uses after forking (which changes to `/`): the directory
/// prepended, nothing resolved.
fn absolute(path: &OsStr) -> Result<PathBuf, CliError> {
    if path.as_bytes().first() == Some(&b'/') {
        return Ok(PathBuf::from(path));
    }
    if path.is_empty() {
        return Err(error(
            "cannot convert null or empty path to an absolute path",
        ));
    }
    let cwd = std::env::current_dir().map_err(|e| error(format!("getcwd: {e}")))?;
    let mut p = cwd.into_os_string().into_vec();
    p.push(b'/');
    p.extend_from_slice(path.as_bytes());
    Ok(PathBuf::from(OsString::from_vec(p)))
}

/// What an option does; long synonyms share one (getopt_long's `val`),
/// which is also how glibc decides that a prefix matching several of
/// them is not ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Ipv4,
    Ipv6,
    Debug,
    DumpConfig,
    DumpPlugin,
    ExitWithParent,
    Export,
    Filter,
    Foreground,
    Group,
    Help,
    IpAddr,
    Keepalive,
    Log,
    LongOptions,
    MaskHandshake,
    MemoryLimit,
    NoSparseReads,
    SparseReads,
    SendErrorMessages,
    EnforceBlockSize,
    Timeout,
    Newstyle,
    NoMc,
    NoSr,
    Oldstyle,
    PidFile,
    Port,
    PrintUri,
    Readonly,
    Run,
    SelinuxLabel,
    ShortOptions,
    Single,
    Swap,
    Threads,
    Tls,
    TlsCertificates,
    TlsPsk,
    TlsVerifyPeer,
    Unix,
    User,
    Verbose,
    Version,
    Vsock,
}

/// nbdkit 1.44.1's long options, in its order: name, takes an argument,
/// what it does.  `--long-options` prints these names (less itself and
/// `--short-options`).
const LONG: &[(&str, bool, Opt)] = &[
    ("ipv4-only", false, Opt::Ipv4),
    ("ipv6-only", false, Opt::Ipv6),
    ("debug", true, Opt::Debug),
    ("dump-config", false, Opt::DumpConfig),
    ("dump-plugin", false, Opt::DumpPlugin),
    ("exit-with-parent", false, Opt::ExitWithParent),
    ("export", true, Opt::Export),
    ("export-name", true, Opt::Export),
    ("exportname", true, Opt::Export),
    ("filter", true, Opt::Filter),
    ("foreground", false, Opt::Foreground),
    ("no-fork", false, Opt::Foreground),
    ("group", true, Opt::Group),
    ("help", false, Opt::Help),
    ("ip-addr", true, Opt::IpAddr),
    ("ipaddr", true, Opt::IpAddr),
    ("keepalive", false, Opt::Keepalive),
    ("keep-alive", false, Opt::Keepalive),
    ("log", true, Opt::Log),
    ("long-options", false, Opt::LongOptions),
    ("mask-handshake", true, Opt::MaskHandshake),
    ("new-style", false, Opt::Newstyle),
    ("newstyle", false, Opt::Newstyle),
    ("no-mc", false, Opt::NoMc),
    ("no-meta-contexts", false, Opt::NoMc),
    ("no-sr", false, Opt::NoSr),
    ("no-structured-replies", false, Opt::NoSr),
    ("old-style", false, Opt::Oldstyle),
    ("oldstyle", false, Opt::Oldstyle),
    ("pid-file", true, Opt::PidFile),
    ("pidfile", true, Opt::PidFile),
    ("print-uri", false, Opt::PrintUri),
    ("print-url", false, Opt::PrintUri),
    ("port", true, Opt::Port),
    ("read-only", false, Opt::Readonly),
    ("readonly", false, Opt::Readonly),
    ("run", true, Opt::Run),
    ("selinux-label", true, Opt::SelinuxLabel),
    ("short-options", false, Opt::ShortOptions),
    ("show-uri", false, Opt::PrintUri),
    ("show-url", false, Opt::PrintUri),
    ("single", false, Opt::Single),
    ("stdin", false, Opt::Single),
    ("swap", false, Opt::Swap),
    ("threads", true, Opt::Threads),
    ("timeout", true, Opt::Timeout),
    ("time-out", true, Opt::Timeout),
    ("tls", true, Opt::Tls),
    ("tls-certificates", true, Opt::TlsCertificates),
    ("tls-psk", true, Opt::TlsPsk),
    ("tls-verify-peer", false, Opt::TlsVerifyPeer),
    ("unix", true, Opt::Unix),
    ("user", true, Opt::User),
    ("verbose", false, Opt::Verbose),
    ("version", false, Opt::Version),
    ("vsock", false, Opt::Vsock),
];

/// Our own long options, which nbdkit 1.44.1 does not have: recognised
/// only when spelled out in full and not listed by `--long-options`, so
/// every abbreviation nbdkit accepts or refuses still means the same.
const EXTRA_LONG: &[(&str, bool, Opt)] = &[
    ("enforce-block-size", false, Opt::EnforceBlockSize),
    ("memory-limit", true, Opt::MemoryLimit),
    ("no-sparse-reads", false, Opt::NoSparseReads),
    ("send-error-messages", false, Opt::SendErrorMessages),
    ("sparse-reads", true, Opt::SparseReads),
];

/// nbdkit's short options (its getopt string), in `--short-options` order.
const SHORT: &[(u8, bool, Opt)] = &[
    (b'4', false, Opt::Ipv4),
    (b'6', false, Opt::Ipv6),
    (b'D', true, Opt::Debug),
    (b'e', true, Opt::Export),
    (b'f', false, Opt::Foreground),
    (b'g', true, Opt::Group),
    (b'i', true, Opt::IpAddr),
    (b'n', false, Opt::Newstyle),
    (b'o', false, Opt::Oldstyle),
    (b'p', true, Opt::Port),
    (b'P', true, Opt::PidFile),
    (b'r', false, Opt::Readonly),
    (b's', false, Opt::Single),
    (b't', true, Opt::Threads),
    (b'u', true, Opt::User),
    (b'U', true, Opt::Unix),
    (b'v', false, Opt::Verbose),
    (b'V', false, Opt::Version),
];

/// What `--long-options` prints: one option a line.
pub fn long_options_text() -> String {
    LONG.iter()
        .filter(|(_, _, o)| !matches!(o, Opt::LongOptions | Opt::ShortOptions))
        .map(|(n, _, _)| format!("--{n}\n"))
        .collect()
}

/// What `--short-options` prints: one option a line.
pub fn short_options_text() -> String {
    SHORT
        .iter()
        .map(|(c, _, _)| format!("-{}\n", *c as char))
        .collect()
}

/// Find a long option as glibc's getopt_long does: an exact name wins;
/// else a prefix of one name, or of several that all mean the same
/// option; else it is ambiguous (listing the first candidate and every
/// later one that means something else).
fn find_long(name: &[u8], shown: &str) -> Result<(&'static str, bool, Opt), CliError> {
    let mut exact = LONG.iter().chain(EXTRA_LONG);
    if let Some(e) = exact.find(|(n, _, _)| n.as_bytes() == name) {
        return Ok(*e);
    }
    let mut cands = LONG
        .iter()
        .filter(|(n, _, _)| n.as_bytes().starts_with(name));
    let Some(first) = cands.next() else {
        return Err(getopt(format!("unrecognized option '{shown}'")));
    };
    let others: Vec<_> = cands
        .filter(|(_, a, o)| (*a, *o) != (first.1, first.2))
        .collect();
    if others.is_empty() {
        return Ok(*first);
    }
    let list: Vec<String> = std::iter::once(first)
        .chain(others)
        .map(|(n, _, _)| format!("'--{n}'"))
        .collect();
    Err(getopt(format!(
        "option '{shown}' is ambiguous; possibilities: {}",
        list.join(" ")
    )))
}

fn lossy(v: &OsStr) -> String {
    v.to_string_lossy().into_owned()
}

/// The options that choose where to listen, which socket activation
/// forbids (the sockets are given), as nbdkit names them when it refuses
/// one.
fn chooses_sockets(opt: Opt) -> Option<&'static str> {
    Some(match opt {
        Opt::IpAddr => "-i",
        Opt::Port => "-p",
        Opt::Run => "--run",
        Opt::Single => "-s",
        Opt::Unix => "-U",
        _ => return None,
    })
}

/// Apply one option with its argument (if it takes one).
fn apply(o: &mut Options, opt: Opt, val: Option<&OsStr>) -> Result<(), CliError> {
    let v = val.unwrap_or_default();
    let b = v.as_bytes();
    if let (Some(flag), Some(_)) = (chooses_sockets(opt), o.socket_activation) {
        return Err(plain(format!(
            "cannot use socket activation with {flag} flag"
        )));
    }
    match opt {
        Opt::Ipv4 => o.ipv4_only = true,
        Opt::Ipv6 => o.ipv6_only = true,
        Opt::Debug => o.debug_flags.insert(0, parse_debug_flag(b)?),
        Opt::DumpConfig => o.mode = Mode::DumpConfig,
        Opt::DumpPlugin => {
            o.dump_plugin = true;
            if o.mode == Mode::Serve {
                o.mode = Mode::DumpPlugin
            }
        }
        // As in nbdkit: the parent it watches is the one that started it.
        Opt::ExitWithParent => {
            o.exit_with_parent = true;
            o.foreground = true;
        }
        Opt::Export => o.export_name = lossy(v),
        Opt::Filter => o.filters.push(lossy(v)),
        Opt::Foreground => o.foreground = true,
        Opt::Group => o.group = Some(v.to_owned()),
        // --help beats --version, both beat --dump-plugin.
        Opt::Help => o.mode = Mode::Help,
        Opt::IpAddr => o.ipaddr = Some(lossy(v)),
        Opt::Keepalive => o.keepalive = true,
        Opt::Log => {
            o.log = match b {
                b"default" => LogTo::Default,
                b"stderr" => LogTo::Stderr,
                b"syslog" => LogTo::Syslog,
                b"null" => LogTo::Null,
                [b'/', ..] => LogTo::File(PathBuf::from(v)),
                _ => {
                    return Err(plain(
                        "--log must be \"stderr\", \"syslog\", \"null\", or an absolute path",
                    ))
                }
            }
        }
        Opt::LongOptions => o.mode = Mode::LongOptions,
        Opt::ShortOptions => o.mode = Mode::ShortOptions,
        Opt::MaskHandshake => o.mask_handshake = parse_unsigned("mask-handshake", b)?,
        Opt::MemoryLimit => {
            let m = crate::parse::size(b).map_err(|e| error(format!("--memory-limit: {e}")))?;
            o.memory_limit = Some(m);
        }
        Opt::NoSparseReads => o.sparse_reads = crate::sparse_read::SparseReads::Off,
        Opt::SendErrorMessages => o.send_error_messages = true,
        Opt::EnforceBlockSize => o.enforce_block_size = true,
        Opt::SparseReads => {
            o.sparse_reads = crate::sparse_read::SparseReads::parse(b)
                .ok_or_else(|| plain("--sparse-reads must be \"exact\", \"all\" or \"off\""))?
        }
        Opt::Timeout => {
            // In nbdkit_parse_delay's words, whatever is wrong.
            let d = crate::parse::delay(&lossy(v)).map_err(|_| {
                error(format!(
                    "timeout: could not parse delay or sleep: \"{}\"",
                    lossy(v)
                ))
            })?;
            o.timeout = (!d.is_zero()).then_some(d);
        }
        Opt::Newstyle => o.oldstyle = false,
        Opt::NoMc => o.no_mc = true,
        Opt::NoSr => o.no_sr = true,
        Opt::Oldstyle => o.oldstyle = true,
        Opt::PidFile => o.pidfile = Some(absolute(v)?),
        Opt::Port => o.port = Some(lossy(v)),
        Opt::PrintUri => o.print_uri = true,
        Opt::Readonly => o.readonly = true,
        Opt::Run => o.run = Some(v.to_owned()),
        Opt::SelinuxLabel => o.selinux_label = Some(v.to_owned()),
        Opt::Single => o.single = true,
        Opt::Swap => o.swap = true,
        Opt::Threads => o.threads = parse_unsigned("threads", b)? as usize,
        Opt::Tls => {
            use crate::protocol::negotiate::TlsMode;
            o.tls = Some(match b.to_ascii_lowercase().as_slice() {
                b"require" | b"required" | b"force" => TlsMode::Require,
                _ => match crate::parse::boolean(b).map_err(|e| error(e.to_string()))? {
                    true => TlsMode::On,
                    false => TlsMode::Off,
                },
            });
        }
        Opt::TlsCertificates => o.tls_certificates = Some(lossy(v)),
        Opt::TlsPsk => o.tls_psk = Some(lossy(v)),
        Opt::TlsVerifyPeer => o.tls_verify_peer = true,
        Opt::Unix if b == b"-" => o.unix = Some(UnixSocket::Temp),
        Opt::Unix => o.unix = Some(UnixSocket::Path(absolute(v)?)),
        Opt::User => o.user = Some(v.to_owned()),
        Opt::Verbose => o.verbose = true,
        Opt::Version => {
            if o.mode != Mode::Help {
                o.mode = Mode::Version
            }
        }
        Opt::Vsock => o.vsock = true,
    }
    Ok(())
}

/// Parse the arguments after the program name, as nbdkit's getopt_long
/// loop does (options and operands in any order, `--` ends options).
/// `--dump-config`, `--long-options` and `--short-options` end parsing
/// where they stand, as in nbdkit.  `activation`: the sockets socket
/// activation passed, if any; as nbdkit, the first option that would
/// choose others is refused as it is met, whatever else the command line
/// asks, and the server stays in the foreground.
pub fn parse(args: &[OsString], activation: Option<usize>) -> Result<Options, CliError> {
    let mut o = Options {
        socket_activation: activation,
        foreground: activation.is_some(),
        ..Options::default()
    };
    let Some(positional) = scan(args, &mut o)? else {
        return Ok(o);
    };
    let mut pos = positional.into_iter();
    o.plugin = pos.next();
    o.params = pos.map(|p| split_param(&p)).collect();
    settle(&mut o)?;
    Ok(o)
}

/// The getopt_long loop: apply each option to `o`; the operands (plugin
/// and parameters) in order, or None when an option that ends parsing
/// was met.
fn scan(args: &[OsString], o: &mut Options) -> Result<Option<Vec<OsString>>, CliError> {
    let mut positional: Vec<OsString> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_bytes();
        i += 1;
        if a == b"--" {
            if positional.is_empty() && i < args.len() {
                o.plugin_index = Some(i);
            }
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            long_option(o, args, &mut i, a, long)?;
            if matches!(
                o.mode,
                Mode::DumpConfig | Mode::LongOptions | Mode::ShortOptions
            ) {
                return Ok(None);
            }
        } else if a.len() > 1 && a[0] == b'-' {
            short_options(o, args, &mut i, a)?;
        } else {
            if positional.is_empty() {
                o.plugin_index = Some(i - 1);
            }
            positional.push(args[i - 1].clone());
        }
    }
    Ok(Some(positional))
}

/// `--name` or `--name=value` (`a` whole, `long` after the dashes); a
/// value not given inline is the next argument, at `*i`.
fn long_option(
    o: &mut Options,
    args: &[OsString],
    i: &mut usize,
    a: &[u8],
    long: &[u8],
) -> Result<(), CliError> {
    let (name, inline) = match long.iter().position(|c| *c == b'=') {
        Some(eq) => (&long[..eq], Some(OsStr::from_bytes(&long[eq + 1..]))),
        None => (long, None),
    };
    let shown = String::from_utf8_lossy(a).into_owned();
    let (lname, has_arg, opt) = find_long(name, &shown)?;
    let val = if has_arg {
        match inline {
            Some(v) => Some(v),
            None if *i < args.len() => {
                *i += 1;
                Some(args[*i - 1].as_os_str())
            }
            None => return Err(getopt(format!("option '--{lname}' requires an argument"))),
        }
    } else {
        if inline.is_some() {
            return Err(getopt(format!(
                "option '--{lname}' doesn't allow an argument"
            )));
        }
        None
    };
    apply(o, opt, val)
}

/// A cluster of short options (`-fv`, `-p10809`); the value of the one
/// that takes it is the rest of the cluster, else the next argument.
fn short_options(
    o: &mut Options,
    args: &[OsString],
    i: &mut usize,
    a: &[u8],
) -> Result<(), CliError> {
    let mut j = 1;
    while j < a.len() {
        let c = a[j];
        j += 1;
        let Some(&(_, has_arg, opt)) = SHORT.iter().find(|(s, _, _)| *s == c) else {
            return Err(getopt(format!(
                "invalid option -- '{}'",
                String::from_utf8_lossy(&[c])
            )));
        };
        if !has_arg {
            apply(o, opt, None)?;
            continue;
        }
        let val = if j < a.len() {
            OsStr::from_bytes(&a[j..])
        } else if *i < args.len() {
            *i += 1;
            args[*i - 1].as_os_str()
        } else {
            return Err(getopt(format!(
                "option requires an argument -- '{}'",
                c as char
            )));
        };
        return apply(o, opt, Some(val));
    }
    Ok(())
}

/// nbdkit's checks of the whole command line, in its order (`--help` and
/// `--version` skip them), and what follows from it.
fn settle(o: &mut Options) -> Result<(), CliError> {
    let dump_plugin = o.dump_plugin;
    let bad_combination = (o.single
        && (o.port.is_some() || o.unix.is_some() || o.vsock || o.run.is_some() || dump_plugin))
        || (o.unix.is_some() && (o.port.is_some() || o.vsock));
    let listening = o.mode == Mode::Serve;
    if bad_combination {
        return Err(plain(
            "--dump-plugin, -p, --run, -s, -U or --vsock options cannot be used in this combination",
        ));
    }
    // As nbdkit since 1.36: --run serves on a private Unix socket unless
    // a port or vsock was asked for.
    if o.run.is_some() && o.unix.is_none() && o.port.is_none() && !o.vsock {
        o.unix = Some(UnixSocket::Temp);
    }
    if o.plugin.is_none() && o.mode == Mode::DumpPlugin {
        return Err(CliError {
            kind: ErrorKind::Plain,
            msg: "use 'nbdkit plugin --dump-plugin' or".into(),
            then: Some(
                "'nbdkit /path/to/plugin.so --dump-plugin' or\n\
                 if you want to find out about the server use --dump-config"
                    .into(),
            ),
        });
    }
    if o.plugin.is_none() && listening {
        return Err(CliError {
            kind: ErrorKind::Plain,
            msg: "no plugins given on the command line.".into(),
            then: Some(
                "Use 'nbdkit --help' or read the nbdkit(1) manual page for documentation.".into(),
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, CliError> {
        parse(
            &s.split_whitespace().map(OsString::from).collect::<Vec<_>>(),
            None,
        )
    }

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn typical() {
        let o = p("-f -r -t 4 -U /tmp/s memory 1G").unwrap();
        assert!(o.foreground && o.readonly);
        assert_eq!(o.threads, 4);
        assert_eq!(o.unix, Some(UnixSocket::Path("/tmp/s".into())));
        assert_eq!(o.plugin, Some(os("memory")));
        assert_eq!(o.params, vec![(None, os("1G"))]);
    }

    #[test]
    fn permutes_and_splits_params() {
        assert_eq!(p("-e file -v file x").unwrap().plugin_index, Some(3));
        assert_eq!(p("-v -- file x").unwrap().plugin_index, Some(2));
        let o = p("file file=/a=b /x/y=z -v --dump-plugin").unwrap();
        assert_eq!(o.mode, Mode::DumpPlugin);
        assert!(o.verbose);
        assert_eq!(
            o.params,
            vec![(Some("file".into()), os("/a=b")), (None, os("/x/y=z"))]
        );
    }

    #[test]
    fn bundled_and_inline_short_options() {
        let o = p("-fv -p10810 -Dmemory.x=0x10 null").unwrap();
        assert!(o.foreground && o.verbose);
        assert_eq!(o.port.as_deref(), Some("10810"));
        assert_eq!(
            o.debug_flags[0],
            DebugFlag {
                name: "memory".into(),
                flag: "x".into(),
                value: 16
            }
        );
    }

    #[test]
    fn arguments_are_bytes() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0xff, 0xfe]);
        let mut kv = b"k=".to_vec();
        kv.extend_from_slice(&[0xff, b'x']);
        let args = vec![
            os("-e"),
            bad.clone(),
            os("null"),
            OsString::from_vec(kv),
            bad.clone(),
        ];
        let o = parse(&args, None).unwrap();
        assert_eq!(o.export_name, "\u{fffd}\u{fffd}");
        assert_eq!(
            o.params,
            vec![
                (Some("k".into()), OsString::from_vec(vec![0xff, b'x'])),
                (None, bad)
            ]
        );
    }

    #[test]
    fn long_option_prefixes_as_getopt_long() {
        assert_eq!(p("--exportn foo null").unwrap().export_name, "foo");
        assert_eq!(p("--expo foo null").unwrap().export_name, "foo");
        assert!(!p("--ne null").unwrap().verbose);
        assert_eq!(p("--ip-a ::1 null").unwrap().ipaddr.as_deref(), Some("::1"));
        assert!(p("--no-s null").unwrap().no_sr);
        assert_eq!(
            p("--lo null").unwrap_err().msg,
            "option '--lo' is ambiguous; possibilities: '--log' '--long-options'"
        );
        assert_eq!(
            p("--i null").unwrap_err().msg,
            "option '--i' is ambiguous; possibilities: '--ipv4-only' '--ipv6-only' '--ip-addr' '--ipaddr'"
        );
        assert_eq!(
            p("--n null").unwrap_err().msg,
            "option '--n' is ambiguous; possibilities: '--no-fork' '--new-style' '--newstyle' '--no-mc' '--no-meta-contexts' '--no-sr' '--no-structured-replies'"
        );
        assert_eq!(
            p("--swap=1 null").unwrap_err().msg,
            "option '--swap' doesn't allow an argument"
        );
    }

    #[test]
    fn our_own_options_only_in_full() {
        assert_eq!(
            p("--memory-limit=1M null").unwrap().memory_limit,
            Some(1 << 20)
        );
        assert_eq!(
            p("--memory-limit 2K null").unwrap().memory_limit,
            Some(2048)
        );
        assert_eq!(
            p("--m").unwrap_err().msg,
            "option '--mask-handshake' requires an argument"
        );
        assert_eq!(
            p("--memory-lim=1 null").unwrap_err().kind,
            ErrorKind::Getopt
        );
        assert!(!long_options_text().contains("memory"));
        use crate::sparse_read::SparseReads;
        assert_eq!(
            p("--no-sparse-reads null").unwrap().sparse_reads,
            SparseReads::Off
        );
        assert_eq!(p("null").unwrap().sparse_reads, SparseReads::Exact);
        assert_eq!(
            p("--sparse-reads=all null").unwrap().sparse_reads,
            SparseReads::All
        );
        assert_eq!(
            p("--sparse-reads off null").unwrap().sparse_reads,
            SparseReads::Off
        );
        assert!(p("--sparse-reads=some null").is_err());
        // Ours: never abbreviated.
        assert!(p("--sparse-read=all null").is_err());
        assert_eq!(p("--timeout=0 null").unwrap().timeout, None);
        // nbdkit 1.44's own: abbreviated as getopt_long does.
        assert_eq!(p("--tim=0 null").unwrap().timeout, None);
        assert_eq!(
            p("--time-out=2 null").unwrap().timeout,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(p("null").unwrap().timeout, None);
    }

    #[test]
    fn option_tables() {
        assert!(long_options_text().starts_with("--ipv4-only\n--ipv6-only\n--debug\n"));
        assert!(!long_options_text().contains("long-options"));
        assert_eq!(long_options_text().lines().count(), 54);
        assert_eq!(
            short_options_text().replace('\n', " "),
            "-4 -6 -D -e -f -g -i -n -o -p -P -r -s -t -u -U -v -V "
        );
        assert_eq!(p("--long-options -x").unwrap().mode, Mode::LongOptions);
        assert_eq!(p("-x --long-options").unwrap_err().kind, ErrorKind::Getopt);
    }

    #[test]
    fn options_of_nbdkit_1_44() {
        let o = p("--keep-alive --no-mc --show-uri -p 1 null").unwrap();
        assert!(o.keepalive && o.no_mc && o.print_uri);
        assert!(p("--no-structured-replies null").unwrap().no_sr);
        assert_eq!(p("--log=default null").unwrap().log, LogTo::Default);
        assert_eq!(
            p("--log=/tmp/x.log null").unwrap().log,
            LogTo::File("/tmp/x.log".into())
        );
        assert_eq!(
            p("--log=x.log null").unwrap_err().msg,
            "--log must be \"stderr\", \"syslog\", \"null\", or an absolute path"
        );
        // --run serves on a private socket unless told where.
        assert_eq!(p("--run x null").unwrap().unix, Some(UnixSocket::Temp));
        assert_eq!(p("--run x -p 1 null").unwrap().unix, None);
        assert_eq!(p("--run x --vsock null").unwrap().unix, None);
        assert_eq!(
            p("--run x -U /s null").unwrap().unix,
            Some(UnixSocket::Path("/s".into()))
        );
    }

    #[test]
    fn numbers_and_debug_flags() {
        assert_eq!(
            p("-t x null").unwrap_err().msg,
            "threads: empty string where we expected a number"
        );
        assert_eq!(
            p("-t -1 null").unwrap_err().msg,
            "threads: negative numbers are not allowed"
        );
        assert_eq!(
            p("--mask-handshake=99999 null").unwrap().mask_handshake,
            99999
        );
        for bad in ["foo", "foo.bar", ".bar=1", "foo.=1", "foo.bar="] {
            let e = p(&format!("-D {bad} null")).unwrap_err();
            assert_eq!(
                (e.kind, e.msg.as_str()),
                (ErrorKind::Plain, DEBUG_FORMAT),
                "{bad}"
            );
        }
        let e = p("-D foo.bar=1x null").unwrap_err();
        assert_eq!(
            e.msg,
            "flag: could not parse number: \"1x\": trailing garbage"
        );
        assert!(e.then.is_some());
        let f = &p("-D a.b.c=1 null").unwrap().debug_flags[0];
        assert_eq!((f.name.as_str(), f.flag.as_str()), ("a", "b.c"));
    }

    #[test]
    fn combinations_as_nbdkit() {
        let bad = |s: &str| {
            p(s).err()
                .is_some_and(|e| e.msg.contains("cannot be used in this combination"))
        };
        for s in [
            "-p 1 -U /x null",
            "-s -p 1 null",
            "-s --run x null",
            "-U /x --vsock null",
            "-s --dump-plugin null",
            "-s -U /x null",
            "-s -p 1 --version null",
            "-s -p 1 --help null",
        ] {
            assert!(bad(s), "{s}");
        }
        for s in [
            "-i ::1 -U /x null",
            "-p 1 --vsock null",
            "--dump-plugin -p 1 null",
            "--dump-plugin --run x null",
            "-s -i ::1 null",
            "-U /x --run x null",
        ] {
            assert!(!bad(s), "{s}");
        }
        assert_eq!(p("--version --help").unwrap().mode, Mode::Help);
        assert_eq!(
            p("null --version --dump-plugin").unwrap().mode,
            Mode::Version
        );
        assert_eq!(p("--dump-config -x").unwrap().mode, Mode::DumpConfig);
    }

    /// Long option names `text` mentions (`--name`, up to a character
    /// that cannot be in a name).
    fn long_names_in(text: &str) -> Vec<&str> {
        text.match_indices("--")
            .map(|(i, _)| {
                let rest = &text[i + 2..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect()
    }

    /// The usage names every option (one of its long names, and its
    /// short one), and only options that exist.
    #[test]
    fn usage_names_every_option() {
        let in_usage = long_names_in(USAGE);
        let all = || LONG.iter().chain(EXTRA_LONG);
        for (_, _, opt) in all() {
            if matches!(opt, Opt::LongOptions | Opt::ShortOptions) {
                continue;
            }
            assert!(
                all().any(|(n, _, o)| o == opt && in_usage.contains(n)),
                "{opt:?} missing from the usage"
            );
        }
        for (c, _, opt) in SHORT {
            let c = *c as char;
            assert!(USAGE.contains(&format!("[-{c}|--")), "-{c} ({opt:?})");
        }
        for n in in_usage {
            assert!(all().any(|(l, _, _)| *l == n), "--{n} is no option");
        }
    }

    #[test]
    fn socket_activation_refuses_the_first_option_choosing_sockets() {
        let a = |s: &str| {
            let args: Vec<OsString> = s.split_whitespace().map(OsString::from).collect();
            parse(&args, Some(1))
        };
        let o = a("-r memory 1M").unwrap();
        assert_eq!(o.socket_activation, Some(1));
        assert!(o.foreground, "the service manager wants no fork");
        assert!(!p("memory 1M").unwrap().foreground);
        let refused = |s: &str| a(s).unwrap_err();
        for (args, flag) in [
            ("-i 127.0.0.1 null", "-i"),
            ("--ipaddr=::1 null", "-i"),
            ("-p 10 null", "-p"),
            ("--port=10 null", "-p"),
            ("--run true null", "--run"),
            ("-s null", "-s"),
            ("--unix /s null", "-U"),
            // The first on the command line, operands permuted away.
            ("-U /s -p 10 null", "-U"),
            ("null -p 10 -i ::1", "-p"),
            // Before the combination it would make, and whatever the mode.
            ("--run true -s null", "--run"),
            ("-p 10 --version", "-p"),
            ("-s --help", "-s"),
            ("-p 10 null --dump-plugin", "-p"),
        ] {
            let e = refused(args);
            assert_eq!(e.kind, ErrorKind::Plain, "{args}");
            assert_eq!(
                e.msg,
                format!("cannot use socket activation with {flag} flag"),
                "{args}"
            );
        }
        // A getopt error met first is reported first.
        assert_eq!(refused("-x -p 10 null").kind, ErrorKind::Getopt);
    }

    #[test]
    fn errors() {
        assert_eq!(p("--foo memory").unwrap_err().kind, ErrorKind::Getopt);
        assert_eq!(p("-x memory").unwrap_err().msg, "invalid option -- 'x'");
        assert!(p("").unwrap_err().msg.starts_with("no plugins given"));
        assert!(p("-t").is_err());
    }
}
