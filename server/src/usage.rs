//! What nbdkit prints before it would serve: command-line errors (with the
//! usage after getopt's own), `--help` and `--version` (with a plugin and
//! filters: theirs too), and the option tables.

use crate::backend::Layers;
use crate::cli::{self, CliError, ErrorKind};
use crate::fatal::Fatal;

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
    println!("nbdkit {}", crate::version::VERSION);
    let Some(layers) = layers else { return };
    for f in &layers.filters {
        println!("{} {}", f.name(), f.version().unwrap_or(""));
    }
    let p = &layers.plugin;
    match p.version() {
        Some(v) => println!("{} {v}", p.name()),
        None => println!("{}", p.name()),
    }
}

/// `--help`: the usage, then each filter's and the plugin's help
/// (`plugin_file` is where the plugin was loaded from).
pub fn help(layers: Option<&Layers>, plugin_file: &std::path::Path) {
    print!("{}", cli::USAGE);
    let Some(layers) = layers else { return };
    for f in &layers.filters {
        print_usage(
            "filter",
            f.name(),
            f.longname(),
            f.path(),
            &[f.description(), f.config_help()],
        );
    }
    let p = &layers.plugin;
    let path = plugin_file.display().to_string();
    print_usage(
        "plugin",
        p.name(),
        p.longname(),
        &path,
        &[p.description(), p.config_help()],
    );
}

/// What `--help` says about one plugin or filter, as nbdkit: its name
/// and long name, where it was loaded from, then its description and
/// config help, each ending in a newline (added only when missing).
fn print_usage(kind: &str, name: &str, longname: Option<&str>, path: &str, texts: &[Option<&str>]) {
    match longname {
        Some(l) => println!("\n{kind}: {name} ({l})"),
        None => println!("\n{kind}: {name}"),
    }
    println!("({path})");
    for t in texts.iter().flatten() {
        print!("{t}");
        if !t.ends_with('\n') {
            println!();
        }
    }
}
