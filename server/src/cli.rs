//! The command line, parsed as nbdkit 1.32 parses it (GNU getopt_long with
//! argument permutation), with its messages and exit codes.

use crate::backend::registry::DebugFlag;

pub const VERSION: &str = "1.32.5";

/// `--timeout`'s default (the option is nbdkit 1.42's): a client that has
/// not finished negotiating by then is disconnected (CVE-2024-7409).
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub const USAGE: &str = "\
nbdkit [-4|--ipv4-only] [-6|--ipv6-only]
       [-D|--debug PLUGIN|FILTER|nbdkit.FLAG=N]
       [--exit-with-parent] [-e|--exportname EXPORTNAME]
       [--filter=FILTER ...] [-f|--foreground]
       [-g|--group GROUP] [-i|--ipaddr IPADDR]
       [--log=stderr|syslog|null] [--mask-handshake=MASK]
       [--memory-limit=SIZE]
       [-n|--newstyle] [--no-sparse-reads] [--no-sr] [-o|--oldstyle]
       [-P|--pidfile PIDFILE] [-p|--port PORT]
       [-r|--readonly] [--run 'COMMAND ARGS ...']
       [--selinux-label=LABEL] [-s|--single] [--swap]
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

Please read the nbdkit(1) manual page for full usage.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    Stderr,
    Syslog,
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Help,
    Version,
    DumpConfig,
    DumpPlugin,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub foreground: bool,
    pub verbose: bool,
    pub readonly: bool,
    pub export_name: String,
    /// `-t`: requests in flight per connection (nbdkit's threads per
    /// connection); 0 means the default.
    pub threads: usize,
    /// `--memory-limit`: bytes requests in flight may hold server-wide
    /// (None: derived from the machine).
    pub memory_limit: Option<u64>,
    pub port: Option<String>,
    pub unix: Option<String>,
    pub ipaddr: Option<String>,
    pub ipv4_only: bool,
    pub ipv6_only: bool,
    pub vsock: bool,
    pub pidfile: Option<String>,
    pub oldstyle: bool,
    pub no_sr: bool,
    /// `--no-sparse-reads`: never answer reads with hole chunks.
    pub no_sparse_reads: bool,
    /// `--timeout`: how long a client may take to negotiate (`None`: no
    /// limit, `--timeout=0`).
    pub timeout: Option<std::time::Duration>,
    pub mask_handshake: u16,
    pub run: Option<String>,
    pub single: bool,
    pub exit_with_parent: bool,
    pub swap: bool,
    pub filters: Vec<String>,
    /// `-D NAME.FLAG=N`.
    pub debug_flags: Vec<DebugFlag>,
    pub log: LogTo,
    /// `--tls`: None when not given (TLS is then on if certificates load).
    pub tls: Option<crate::protocol::negotiate::TlsMode>,
    pub tls_certificates: Option<String>,
    pub tls_psk: Option<String>,
    pub tls_verify_peer: bool,
    pub user: Option<String>,
    pub group: Option<String>,
    pub plugin: Option<String>,
    /// Arguments after the plugin: `(Some(key), value)` or `(None, value)`
    /// for a bare value given to the magic config key.
    pub params: Vec<(Option<String>, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Serve,
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
            pidfile: None,
            oldstyle: false,
            no_sr: false,
            no_sparse_reads: false,
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            mask_handshake: u16::MAX,
            run: None,
            single: false,
            exit_with_parent: false,
            swap: false,
            filters: Vec::new(),
            debug_flags: Vec::new(),
            log: LogTo::Stderr,
            tls: None,
            tls_certificates: None,
            tls_psk: None,
            tls_verify_peer: false,
            user: None,
            group: None,
            plugin: None,
            params: Vec::new(),
        }
    }
}

/// A command-line error: the message, and whether the usage text follows it
/// (as getopt errors do in nbdkit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub msg: String,
    pub usage: bool,
}

fn err(msg: impl Into<String>) -> CliError {
    CliError {
        msg: msg.into(),
        usage: false,
    }
}

/// A `key=value` parameter has a key of letters, digits, `_`, `-` and `.`,
/// not starting with a digit or `-`; otherwise (a path, say) the whole
/// argument is a value for the magic config key.
fn split_param(arg: &str) -> (Option<String>, String) {
    if let Some((k, v)) = arg.split_once('=') {
        let valid = !k.is_empty()
            && k.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            return (Some(k.to_string()), v.to_string());
        }
    }
    (None, arg.to_string())
}

fn parse_debug_flag(s: &str) -> Result<Option<DebugFlag>, CliError> {
    // `-D NAME.FLAG=N`; a bare `-D NAME` (no '=') is accepted and ignored,
    // as in nbdkit where it only affects debug output of that name.
    let Some((lhs, val)) = s.split_once('=') else {
        return Ok(None);
    };
    let Some((name, flag)) = lhs.split_once('.') else {
        return Err(err(format!(
            "-D (Debug Flag) must have the format NAME.FLAG=N"
        )));
    };
    let value = parse_c_int(val).ok_or_else(|| {
        err(format!(
            "-D (Debug Flag): could not parse number: \"{val}\""
        ))
    })?;
    Ok(Some(DebugFlag {
        name: name.to_string(),
        flag: flag.replace('.', "_"),
        value,
    }))
}

/// `strtol(s, NULL, 0)` as nbdkit uses it for numbers: decimal, `0x` hex or
/// leading-zero octal, the whole string consumed, in `i32` range.
pub fn parse_c_int(s: &str) -> Option<i32> {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<i64>().ok()?
    };
    i32::try_from(if neg { -v } else { v }).ok()
}

/// `path` made absolute against the current directory, as nbdkit does for
/// the paths it uses after forking (which changes to `/`): the directory
/// prepended, nothing resolved.
fn absolute(path: &str) -> Result<String, CliError> {
    if path.starts_with('/') {
        return Ok(path.to_string());
    }
    if path.is_empty() {
        return Err(err("cannot convert null or empty path to an absolute path"));
    }
    let cwd = std::env::current_dir().map_err(|e| err(format!("getcwd: {e}")))?;
    Ok(format!("{}/{path}", cwd.display()))
}

/// Long options: name, whether it takes an argument.
const LONG: &[(&str, bool)] = &[
    ("debug", true),
    ("dump-config", false),
    ("dump-plugin", false),
    ("exit-with-parent", false),
    ("exportname", true),
    ("export-name", true),
    ("export", true),
    ("filter", true),
    ("foreground", false),
    ("no-fork", false),
    ("group", true),
    ("help", false),
    ("ipaddr", true),
    ("ipv4-only", false),
    ("ipv6-only", false),
    ("log", true),
    ("mask-handshake", true),
    ("memory-limit", true),
    ("newstyle", false),
    ("new-style", false),
    ("no-sparse-reads", false),
    ("no-sr", false),
    ("no-structured-replies", false),
    ("oldstyle", false),
    ("old-style", false),
    ("pid-file", true),
    ("pidfile", true),
    ("port", true),
    ("readonly", false),
    ("read-only", false),
    ("run", true),
    ("selinux-label", true),
    ("single", false),
    ("stdin", false),
    ("swap", false),
    ("threads", true),
    ("timeout", true),
    ("tls", true),
    ("tls-certificates", true),
    ("tls-psk", true),
    ("tls-verify-peer", false),
    ("unix", true),
    ("user", true),
    ("verbose", false),
    ("version", false),
    ("vsock", false),
];

/// Short options and whether they take an argument.
fn short_takes_arg(c: char) -> Option<bool> {
    match c {
        '4' | '6' | 'f' | 'n' | 'o' | 'r' | 's' | 'v' | 'V' => Some(false),
        'D' | 'e' | 'g' | 'i' | 'p' | 'P' | 't' | 'u' | 'U' => Some(true),
        _ => None,
    }
}

pub fn parse(args: &[String]) -> Result<Options, CliError> {
    let mut o = Options::default();
    let mut positional: Vec<String> = Vec::new();
    let mut i = 0;
    let apply = |o: &mut Options, name: &str, val: Option<String>| -> Result<(), CliError> {
        let v = || val.clone().unwrap_or_default();
        match name {
            "4" | "ipv4-only" => o.ipv4_only = true,
            "6" | "ipv6-only" => o.ipv6_only = true,
            "D" | "debug" => {
                if let Some(f) = parse_debug_flag(&v())? {
                    o.debug_flags.push(f)
                }
            }
            "dump-config" => o.mode = Mode::DumpConfig,
            "dump-plugin" => o.mode = Mode::DumpPlugin,
            "exit-with-parent" => o.exit_with_parent = true,
            "e" | "exportname" | "export-name" | "export" => o.export_name = v(),
            "filter" => o.filters.push(v()),
            "f" | "foreground" | "no-fork" => o.foreground = true,
            "g" | "group" => o.group = Some(v()),
            "help" => o.mode = Mode::Help,
            "i" | "ipaddr" => o.ipaddr = Some(v()),
            "log" => {
                o.log = match v().as_str() {
                    "stderr" => LogTo::Stderr,
                    "syslog" => LogTo::Syslog,
                    "null" => LogTo::Null,
                    other => return Err(err(format!("unknown --log parameter: {other}"))),
                }
            }
            "mask-handshake" => {
                let m = parse_c_int(&v())
                    .filter(|m| (0..=u16::MAX as i32).contains(m))
                    .ok_or_else(|| {
                        err(format!(
                            "--mask-handshake: could not parse number: \"{}\"",
                            v()
                        ))
                    })?;
                o.mask_handshake = m as u16;
            }
            "memory-limit" => {
                let m =
                    crate::parse::size(&v()).map_err(|e| err(format!("--memory-limit: {e}")))?;
                o.memory_limit = Some(m);
            }
            "n" | "newstyle" | "new-style" => o.oldstyle = false,
            "no-sr" | "no-structured-replies" => o.no_sr = true,
            "no-sparse-reads" => o.no_sparse_reads = true,
            "timeout" => {
                let d = crate::parse::delay(&v()).map_err(|e| err(format!("--timeout: {e}")))?;
                o.timeout = (!d.is_zero()).then_some(d);
            }
            "o" | "oldstyle" | "old-style" => o.oldstyle = true,
            "P" | "pidfile" | "pid-file" => o.pidfile = Some(absolute(&v())?),
            "p" | "port" => o.port = Some(v()),
            "r" | "readonly" | "read-only" => o.readonly = true,
            "run" => {
                o.run = Some(v());
                o.foreground = true;
            }
            "selinux-label" => {}
            "s" | "single" | "stdin" => o.single = true,
            "swap" => o.swap = true,
            "t" | "threads" => {
                let t = parse_c_int(&v())
                    .filter(|t| *t >= 0)
                    .ok_or_else(|| err(format!("-t: could not parse number: \"{}\"", v())))?;
                o.threads = t as usize;
            }
            "tls" => {
                use crate::protocol::negotiate::TlsMode;
                let t = v();
                o.tls = Some(match t.to_ascii_lowercase().as_str() {
                    "require" | "required" | "force" => TlsMode::Require,
                    _ => match crate::parse::boolean(&t).map_err(err)? {
                        true => TlsMode::On,
                        false => TlsMode::Off,
                    },
                });
            }
            "tls-certificates" => o.tls_certificates = Some(v()),
            "tls-psk" => o.tls_psk = Some(v()),
            "tls-verify-peer" => o.tls_verify_peer = true,
            "U" | "unix" if v() == "-" => o.unix = Some(v()),
            "U" | "unix" => o.unix = Some(absolute(&v())?),
            "u" | "user" => o.user = Some(v()),
            "v" | "verbose" => o.verbose = true,
            "V" | "version" => o.mode = Mode::Version,
            "vsock" => o.vsock = true,
            _ => unreachable!("option table and handler disagree on {name}"),
        }
        Ok(())
    };

    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            // getopt_long accepts unambiguous prefixes.
            let exact = LONG.iter().find(|(n, _)| *n == name);
            let cands: Vec<_> = LONG.iter().filter(|(n, _)| n.starts_with(name)).collect();
            let (lname, has_arg) = match (exact, cands.len()) {
                (Some(e), _) => *e,
                (None, 1) => *cands[0],
                (None, 0) => {
                    return Err(CliError {
                        msg: format!("unrecognized option '{a}'"),
                        usage: true,
                    })
                }
                _ => {
                    return Err(CliError {
                        msg: format!("option '{a}' is ambiguous"),
                        usage: true,
                    })
                }
            };
            let val = if has_arg {
                match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => {
                        return Err(CliError {
                            msg: format!("option '--{lname}' requires an argument"),
                            usage: true,
                        })
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(CliError {
                        msg: format!("option '--{lname}' doesn't allow an argument"),
                        usage: true,
                    });
                }
                None
            };
            apply(&mut o, lname, val)?;
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                match short_takes_arg(c) {
                    None => {
                        return Err(CliError {
                            msg: format!("invalid option -- '{c}'"),
                            usage: true,
                        })
                    }
                    Some(false) => apply(&mut o, &c.to_string(), None)?,
                    Some(true) => {
                        let rest: String = chars[j..].iter().collect();
                        let val = if !rest.is_empty() {
                            rest
                        } else if i < args.len() {
                            i += 1;
                            args[i - 1].clone()
                        } else {
                            return Err(CliError {
                                msg: format!("option requires an argument -- '{c}'"),
                                usage: true,
                            });
                        };
                        apply(&mut o, &c.to_string(), Some(val))?;
                        break;
                    }
                }
            }
        } else {
            positional.push(a.clone());
        }
    }

    let mut pos = positional.into_iter();
    o.plugin = pos.next();
    o.params = pos.map(|p| split_param(&p)).collect();

    if o.mode == Mode::Serve || o.mode == Mode::DumpPlugin {
        let exclusive = [
            o.mode == Mode::DumpPlugin,
            o.port.is_some() || o.ipaddr.is_some(),
            o.single,
            o.unix.is_some(),
            o.vsock,
        ];
        if exclusive.iter().filter(|b| **b).count() > 1
            || (o.mode == Mode::DumpPlugin && o.run.is_some())
            || (o.single && o.run.is_some())
        {
            return Err(err(
                "--dump-plugin, -p, --run, -s, -U or --vsock options cannot be used in this combination",
            ));
        }
        if o.plugin.is_none() {
            return Err(err(
                "no plugins given on the command line.\nUse 'nbdkit --help' or read the nbdkit(1) manual page for documentation.",
            ));
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, CliError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn typical() {
        let o = p("-f -r -t 4 -U /tmp/s memory 1G").unwrap();
        assert!(o.foreground && o.readonly);
        assert_eq!(o.threads, 4);
        assert_eq!(o.unix.as_deref(), Some("/tmp/s"));
        assert_eq!(o.plugin.as_deref(), Some("memory"));
        assert_eq!(o.params, vec![(None, "1G".to_string())]);
    }

    #[test]
    fn permutes_and_splits_params() {
        let o = p("file file=/a=b /x/y=z -v --dump-plugin").unwrap();
        assert_eq!(o.mode, Mode::DumpPlugin);
        assert!(o.verbose);
        assert_eq!(
            o.params,
            vec![
                (Some("file".into()), "/a=b".into()),
                (None, "/x/y=z".into())
            ]
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
    fn errors() {
        assert!(p("--foo memory").unwrap_err().usage);
        assert_eq!(p("-x memory").unwrap_err().msg, "invalid option -- 'x'");
        assert!(p("").unwrap_err().msg.starts_with("no plugins given"));
        assert!(p("-U - -p 1 memory")
            .unwrap_err()
            .msg
            .contains("cannot be used"));
        assert!(p("-t").is_err());
        assert_eq!(p("--exportn foo null").unwrap().export_name, "foo");
    }
}
