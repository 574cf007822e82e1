//! What nbdkit prints before it would serve: command-line errors (with the
//! usage after getopt's own), `--help` and `--version` (with a plugin and
//! filters: theirs too), and the option tables.

use crate::backend::Layers;
use crate::cli::{self, CliError, ErrorKind};
use crate::fatal::Fatal;
use std::io::{self, Write};

/// A command-line error as nbdkit prints it: getopt's complaints after
/// the program name, then the usage; nbdkit's own checks after `nbdkit:`.
pub fn cli_error(argv0: &str, e: CliError) -> Fatal {
    let mut text = match e.kind {
        ErrorKind::Getopt => format!("{argv0}: {}\n{}", e.msg, cli::USAGE.trim_end_matches('\n')),
        ErrorKind::Plain => format!("nbdkit: {}", e.msg),
        ErrorKind::Error => format!("nbdkit: error: {}", e.msg),
    };
    if let Some(t) = e.then {
        text.push('\n');
        text.push_str(&t);
    }
    Fatal::text(text)
}

/// `--version`: the server's, then each filter's and the plugin's.
pub fn version(layers: Option<&Layers>) {
    let _ = write_version(&mut std::io::stdout().lock(), layers);
}

fn write_version(o: &mut dyn Write, layers: Option<&Layers>) -> io::Result<()> {
    writeln!(o, "nbdkit {}", crate::version::VERSION)?;
    let Some(layers) = layers else { return Ok(()) };
    for f in &layers.filters {
        writeln!(o, "{} {}", f.name(), f.version().unwrap_or(""))?;
    }
    let p = &layers.plugin;
    match p.version() {
        Some(v) => writeln!(o, "{} {v}", p.name()),
        None => writeln!(o, "{}", p.name()),
    }
}

/// `--help`: the usage, then each filter's and the plugin's help
/// (`plugin_file` is where the plugin was loaded from).
pub fn help(layers: Option<&Layers>, plugin_file: &std::path::Path) {
    let _ = write_help(&mut std::io::stdout().lock(), layers, plugin_file);
}

fn write_help(
    o: &mut dyn Write,
    layers: Option<&Layers>,
    plugin_file: &std::path::Path,
) -> io::Result<()> {
    write!(o, "{}", cli::USAGE)?;
    let Some(layers) = layers else { return Ok(()) };
    for f in &layers.filters {
        write_usage(
            o,
            "filter",
            f.name(),
            f.longname(),
            f.path(),
            &[f.description(), f.config_help()],
        )?;
    }
    let p = &layers.plugin;
    let path = plugin_file.display().to_string();
    write_usage(
        o,
        "plugin",
        p.name(),
        p.longname(),
        &path,
        &[p.description(), p.config_help()],
    )
}

/// What `--help` says about one plugin or filter, as nbdkit: its name
/// and long name, where it was loaded from, then its description and
/// config help, each ending in a newline (added only when missing).
fn write_usage(
    o: &mut dyn Write,
    kind: &str,
    name: &str,
    longname: Option<&str>,
    path: &str,
    texts: &[Option<&str>],
) -> io::Result<()> {
    match longname {
        Some(l) => writeln!(o, "\n{kind}: {name} ({l})")?,
        None => writeln!(o, "\n{kind}: {name}")?,
    }
    writeln!(o, "({path})")?;
    for t in texts.iter().flatten() {
        write!(o, "{t}")?;
        if !t.ends_with('\n') {
            writeln!(o)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_layers::{layers, About};

    #[test]
    fn command_line_errors_as_nbdkit_prints_them() {
        let e = |kind, msg: &str, then: Option<&str>| {
            cli_error(
                "/usr/sbin/nbdkit",
                CliError {
                    kind,
                    msg: msg.into(),
                    then: then.map(Into::into),
                },
            )
        };
        let g = e(ErrorKind::Getopt, "invalid option -- 'x'", None);
        let usage = cli::USAGE.trim_end_matches('\n');
        assert_eq!(
            g.to_string(),
            format!("/usr/sbin/nbdkit: invalid option -- 'x'\n{usage}")
        );
        assert_eq!(g.status, 1);
        assert_eq!(
            e(ErrorKind::Plain, "no plugins given", None).to_string(),
            "nbdkit: no plugins given"
        );
        assert_eq!(
            e(ErrorKind::Error, "-t: bad", Some("second line")).to_string(),
            "nbdkit: error: -t: bad\nsecond line"
        );
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn version_lists_filters_then_the_plugin() {
        let v = crate::version::VERSION;
        assert_eq!(text(|o| write_version(o, None)), format!("nbdkit {v}\n"));
        let (l, _) = layers(
            &[
                About {
                    version: Some("1.44.1"),
                    ..About::named("cow")
                },
                About::named("nover"),
            ],
            About {
                version: Some("2.0"),
                ..About::named("sh")
            },
        );
        assert_eq!(
            text(|o| write_version(o, Some(&l))),
            format!("nbdkit {v}\ncow 1.44.1\nnover \nsh 2.0\n")
        );
        let (l, _) = layers(&[], About::named("bare"));
        assert_eq!(
            text(|o| write_version(o, Some(&l))),
            format!("nbdkit {v}\nbare\n")
        );
    }

    #[test]
    fn help_describes_each_layer_after_the_usage() {
        let none = text(|o| write_help(o, None, "".as_ref()));
        assert_eq!(none, cli::USAGE);
        let (l, _) = layers(
            &[About {
                path: "/f/nbdkit-cow-filter.so",
                longname: Some("copy on write"),
                description: Some("Writes go to a temporary overlay.\n"),
                ..About::named("cow")
            }],
            About {
                config_help: Some("size=<SIZE>  Size"),
                ..About::named("null")
            },
        );
        let all = text(|o| write_help(o, Some(&l), "/p/nbdkit-null-plugin.so".as_ref()));
        let tail = all.strip_prefix(cli::USAGE).expect("the usage first");
        assert_eq!(
            tail,
            "\nfilter: cow (copy on write)\n(/f/nbdkit-cow-filter.so)\n\
             Writes go to a temporary overlay.\n\
             \nplugin: null\n(/p/nbdkit-null-plugin.so)\nsize=<SIZE>  Size\n"
        );
    }
}
