//! Loading the plugin and filters and getting them ready, in nbdkit's
//! order (plugin, then filters innermost first; `-D` flags; `.config` for
//! each parameter; `.config_complete`; the thread model; `.get_ready`),
//! and unloading them once the server is done.

use crate::abi;
use crate::backend::{builtin, registry};
use crate::backend::{Filter, Layers, Plugin, Stack, ThreadModel};
use crate::cli::Options;
use crate::debug_flag::DebugFlag;
use crate::fatal::{self, Fatal};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A plugin given as a script of nbdkit's plugin directory runs as its
/// `#!` line says (nbdkit with the language plugin and the script), with
/// the other arguments as they were.  Returns only when it is no script
/// (or the script could not be run).
pub fn exec_script_plugin(args: &[OsString], opts: &Options) -> Result<(), Fatal> {
    let plugin = opts.plugin.clone().unwrap_or_default();
    let (Some(script), Some(at)) = (script_plugin(&plugin), opts.plugin_index) else {
        return Ok(());
    };
    let mut rest = args.to_vec();
    rest.remove(at);
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(&script).args(rest).exec();
    Err(Fatal::error(format!("{}: {e}", script.display())))
}

/// A plugin that is an executable script in the plugin directory
/// (`nbdkit-NAME-plugin` with no `.so`, such as Debian's S3 and example4):
/// nbdkit runs the script, whose `#!` line names the language plugin.
fn script_plugin(name: &OsStr) -> Option<PathBuf> {
    if !registry::is_short_name(name) || name.to_str().and_then(builtin::find).is_some() {
        return None;
    }
    let so = registry::plugin_path(name);
    if so.exists() {
        return None;
    }
    let mut file = OsString::from("nbdkit-");
    file.push(name);
    file.push("-plugin");
    let script = Path::new(registry::DEFAULT_PLUGIN_DIR).join(file);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&script).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(script)
}

/// Load the plugin and the filters, and apply the `-D` flags.
pub fn layers(opts: &Options) -> Result<Layers, Fatal> {
    // The adapter's messages carry nbdkit's own prefix ("error: " or the
    // plugin path).
    let layers = load_in_order(
        opts,
        |name| load_plugin(name, &opts.params, &opts.debug_flags),
        |name| load_filter(name, &opts.debug_flags),
    )?;
    log::debug!(target: crate::logging::PLUGIN, "request processing: {}", processing_order(&layers));
    warn_unused_debug_flags(&opts.debug_flags, &layers);
    crate::backend::context::set_debug_paths(
        abi::exports::debug_controlpath(),
        abi::exports::debug_datapath(),
    );
    // -D nbdkit.environ=1: the environment, one debug line a variable.
    if abi::exports::debug_environ() {
        for (k, v) in std::env::vars_os() {
            log::debug!(target: crate::logging::PLUGIN, "{}={}", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    // Now that -D nbdkit.tls.* are set.
    crate::tls::set_debug(
        abi::exports::debug_tls_session(),
        abi::exports::debug_tls_log(),
    );
    Ok(layers)
}

/// The plugin, then the filters as nbdkit loads them: the last
/// `--filter` first (it is the innermost); the first failure stops.
fn load_in_order(
    opts: &Options,
    plugin: impl FnOnce(&OsStr) -> Result<Box<dyn Plugin>, Fatal>,
    mut filter: impl FnMut(&str) -> Result<Box<dyn Filter>, Fatal>,
) -> Result<Layers, Fatal> {
    let plugin = plugin(opts.plugin.as_deref().unwrap_or_default())?;
    let mut filters = Vec::with_capacity(opts.filters.len());
    for name in opts.filters.iter().rev() {
        filters.push(filter(name)?);
    }
    filters.reverse();
    Ok(Layers { filters, plugin })
}

/// The layers a request passes through, outermost first, as nbdkit 1.44
/// names them in `-v` output: `cow (filter, first) -> memory (plugin, last)`.
fn processing_order(layers: &Layers) -> String {
    let mut names: Vec<String> = layers
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "{} (filter{})",
                f.name(),
                if i == 0 { ", first" } else { "" }
            )
        })
        .collect();
    let place = if names.is_empty() { "first" } else { "last" };
    names.push(format!("{} (plugin, {place})", layers.plugin.name()));
    names.join(" -> ")
}

/// Load the filter `--filter=name` names.
fn load_filter(name: &str, debug_flags: &[DebugFlag]) -> Result<Box<dyn Filter>, Fatal> {
    abi::filter::load(&registry::filter_path(name), name, debug_flags)
}

/// Load the plugin `name` as nbdkit would.  Our built-ins answer their own
/// short names when they serve what `params` ask for; everything else goes
/// through the C adapter (for a built-in's name, nbdkit's plugin of that
/// name in the plugin directory, and a clear error if it is not there).
fn load_plugin(
    name: &OsStr,
    params: &[(Option<String>, OsString)],
    debug_flags: &[DebugFlag],
) -> Result<Box<dyn Plugin>, Fatal> {
    let builtin = name.to_str().and_then(|n| {
        let p = builtin::find(n)?;
        let so = registry::plugin_path(name);
        let installed = so.exists().then(|| abi::plugin::peek_version(&so));
        match use_builtin(n, &so, installed, builtin::unserved(n, params)) {
            Ok(true) => Some(Ok(p)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    });
    if let Some(p) = builtin {
        let p = p?;
        log::debug!(
            "registering plugin {}",
            registry::plugin_path(name).display()
        );
        log::debug!(
            "registered plugin {} (name {})",
            registry::plugin_path(name).display(),
            p.name()
        );
        log::debug!("{}: load", p.name());
        return Ok(p);
    }
    abi::plugin::load(
        &registry::plugin_path(name),
        &name.to_string_lossy(),
        debug_flags,
    )
}

/// Whether the built-in plugin `name` serves, rather than nbdkit's plugin
/// of that name at `so`: `installed` is that `.so`'s version when there
/// is one (`Some(None)`: its version cannot be read), `unserved` what in
/// the parameters the built-in does not serve.  An error when only the
/// missing `.so` would serve them.
fn use_builtin(
    name: &str,
    so: &Path,
    installed: Option<Option<String>>,
    unserved: Option<String>,
) -> Result<bool, Fatal> {
    match (installed, unserved) {
        (Some(v), _) if !builtin::stands_for(v.as_deref()) => Ok(false),
        (_, None) => Ok(true),
        (Some(_), Some(_)) => Ok(false),
        (None, Some(what)) => Err(Fatal::plain(format!(
            "error: {name}: {what} is not built into this nbdkit, and \
             nbdkit's {name} plugin, which serves it, is not installed \
             ({})",
            so.display()
        ))),
    }
}

/// nbdkit's warnings for `-D NAME.FLAG=N` that nothing loaded can use: a
/// NAME that is no plugin or filter, or an `nbdkit.FLAG` the server does
/// not have.  (A C plugin warns itself when NAME is it but the variable
/// is missing.)
fn warn_unused_debug_flags(flags: &[DebugFlag], layers: &Layers) {
    let plugin = &layers.plugin;
    // In nbdkit's order: the plugin's (as it loads), the server's, then
    // the ones nothing used.  (Filters set theirs as they load.)
    for f in flags.iter().filter(|f| f.name == plugin.name()) {
        plugin.check_debug_flag(f);
    }
    for f in flags.iter().filter(|f| f.name == "nbdkit") {
        if !abi::exports::set_server_debug_flag(&f.flag, f.value) {
            log::warn!(
                "-D nbdkit.{}: nbdkit does not contain a global variable called nbdkit_debug_{}",
                f.flag,
                f.flag.replace('.', "_")
            );
        }
    }
    for f in unused_debug_flags(flags, layers) {
        log::warn!("debug flag -D {}.{} was not used", f.name, f.flag);
    }
}

/// The `-D NAME.FLAG=N` whose NAME is neither the server nor a layer.
fn unused_debug_flags<'a>(
    flags: &'a [DebugFlag],
    layers: &'a Layers,
) -> impl Iterator<Item = &'a DebugFlag> {
    flags
        .iter()
        .filter(|f| f.name != "nbdkit" && f.name != layers.plugin.name())
        .filter(|f| !layers.filters.iter().any(|l| l.name() == f.name))
}

/// `.config` for every parameter, in command-line order, through the
/// filters to the plugin.
pub fn config_params(layers: &mut Layers, opts: &Options) -> Result<(), Fatal> {
    for (k, v) in &opts.params {
        let key = match k {
            Some(k) => k.clone(),
            // Language plugins take their script as a bare parameter.
            None => layers
                .plugin
                .magic_config_key()
                .unwrap_or("script")
                .to_string(),
        };
        layers
            .config(&key, v)
            .map_err(|e| fatal::backend(e, None))?;
    }
    Ok(())
}

/// Configure the layers, settle the thread model and get them ready;
/// then, with `--swap`, lock the server in memory (as nbdkit, once the
/// plugin is ready, in its words).
pub fn ready(layers: &mut Layers, opts: &Options) -> Result<ThreadModel, Fatal> {
    config_params(layers, opts)?;
    layers
        .config_complete()
        .map_err(|e| fatal::backend(e, None))?;
    let model = layers.thread_model().map_err(|e| fatal::backend(e, None))?;
    log::debug!("using thread model: {}", model.name());
    let get_ready = format!("{}: get_ready", layers.plugin.name());
    layers
        .get_ready(model)
        .map_err(|e| fatal::backend(e, Some(&get_ready)))?;
    if opts.swap {
        crate::sys::lock_all_memory()
            .map_err(|e| Fatal::plain(format!("--swap: mlockall: {}", crate::sys::strerror(&e))))?;
        log::debug!("mlockall done");
    }
    Ok(model)
}

/// The plugin's and filters' `.cleanup`, then unloading them, once the
/// server (which each connection holds until its state is gone) is the
/// last holder of the stack.
pub fn unload(server: Arc<crate::net::Server>, stack: Arc<Stack>) {
    server.live.clone().wait_none();
    match Arc::try_unwrap(server) {
        Ok(srv) => {
            drop(srv);
            stack.cleanup();
            // Dropping the last reference unloads the plugin and filters.
            match Arc::into_inner(stack) {
                Some(s) => drop(s),
                None => log::debug!("contexts still open at exit; skipping unload"),
            }
        }
        Err(_) => log::debug!("the server is still referenced at exit; skipping unload"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_layers::{layers, About, FakeFilter, FakePlugin};

    #[test]
    fn a_built_in_serves_unless_another_release_is_installed() {
        let so = Path::new("/p/nbdkit-memory-plugin.so");
        let v = |s: &str| Some(Some(s.to_string()));
        let choose = |installed, unserved: Option<&str>| {
            use_builtin("memory", so, installed, unserved.map(Into::into))
        };
        assert!(choose(None, None).unwrap());
        assert!(choose(v("1.32.5"), None).unwrap());
        assert!(choose(Some(None), None).unwrap(), "a version unread");
        assert!(!choose(v("1.44.1"), None).unwrap());
        // What the built-in does not serve, the installed plugin does.
        assert!(!choose(v("1.32.5"), Some("allocator=malloc")).unwrap());
        assert!(!choose(v("1.44.1"), Some("allocator=malloc")).unwrap());
        let e = choose(None, Some("allocator=malloc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nbdkit: error: memory: allocator=malloc is not built into this nbdkit, and \
             nbdkit's memory plugin, which serves it, is not installed \
             (/p/nbdkit-memory-plugin.so)"
        );
    }

    #[test]
    fn requests_pass_the_filters_outermost_first() {
        let (l, _) = layers(&[], About::named("memory"));
        assert_eq!(processing_order(&l), "memory (plugin, first)");
        let (l, _) = layers(
            &[About::named("cow"), About::named("delay")],
            About::named("memory"),
        );
        assert_eq!(
            processing_order(&l),
            "cow (filter, first) -> delay (filter) -> memory (plugin, last)"
        );
    }

    fn flag(name: &str, flag: &str) -> DebugFlag {
        DebugFlag {
            name: name.into(),
            flag: flag.into(),
            value: 1,
        }
    }

    #[test]
    fn debug_flags_naming_nothing_loaded_are_unused() {
        let (l, _) = layers(&[About::named("cow")], About::named("sh"));
        let flags = [
            flag("sh", "x"),
            flag("cow", "verbose"),
            flag("nbdkit", "backend.controlpath"),
            flag("memory", "dir"),
            flag("co", "w"),
        ];
        let unused: Vec<String> = unused_debug_flags(&flags, &l)
            .map(|f| format!("{}.{}", f.name, f.flag))
            .collect();
        assert_eq!(unused, ["memory.dir", "co.w"]);
    }

    fn opts(params: &[(Option<&str>, &str)]) -> Options {
        Options {
            params: params
                .iter()
                .map(|(k, v)| (k.map(Into::into), OsString::from(v)))
                .collect(),
            ..Options::default()
        }
    }

    #[test]
    fn parameters_in_order_a_bare_one_to_the_magic_key() {
        let o = opts(&[(None, "/s.sh"), (Some("size"), "1M"), (Some("a"), "b=c")]);
        let (mut l, calls) = layers(&[], About::named("sh"));
        config_params(&mut l, &o).unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "sh: config script=/s.sh",
                "sh: config size=1M",
                "sh: config a=b=c"
            ]
        );
        let magic = About {
            magic_config_key: Some("file"),
            ..About::named("file")
        };
        let (mut l, calls) = layers(&[], magic);
        config_params(&mut l, &opts(&[(None, "/disk.img")])).unwrap();
        assert_eq!(*calls.lock().unwrap(), ["file: config file=/disk.img"]);
    }

    /// nbdkit's order: each parameter through the filters (outermost
    /// first) to the plugin, then `.config_complete` the same way, then
    /// `.get_ready` from the plugin out.
    #[test]
    fn getting_ready_in_nbdkits_order() {
        let (mut l, calls) = layers(
            &[About::named("outer"), About::named("inner")],
            About::named("p"),
        );
        let model = ready(&mut l, &opts(&[(Some("k"), "v"), (Some("j"), "w")])).unwrap();
        assert_eq!(model, ThreadModel::Parallel);
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "outer: config k=v",
                "inner: config k=v",
                "p: config k=v",
                "outer: config j=w",
                "inner: config j=w",
                "p: config j=w",
                "outer: config_complete",
                "inner: config_complete",
                "p: config_complete",
                "p: get_ready",
                "inner: get_ready",
                "outer: get_ready",
            ]
        );
    }

    #[test]
    fn getting_ready_says_which_plugin_failed() {
        let failing = About {
            get_ready_error: Some("no disk"),
            ..About::named("fake")
        };
        let (mut l, calls) = layers(&[About::named("f")], failing);
        let e = ready(&mut l, &Options::default()).unwrap_err();
        assert_eq!(e.to_string(), "nbdkit: error: fake: get_ready: no disk");
        assert!(
            !calls.lock().unwrap().contains(&"f: get_ready".to_string()),
            "no filter is readied over a plugin that failed"
        );
    }

    #[test]
    fn the_plugin_then_the_filters_from_the_innermost() {
        let o = Options {
            plugin: Some("p".into()),
            filters: vec!["a".into(), "b".into(), "c".into()],
            ..Options::default()
        };
        let loaded = std::cell::RefCell::new(Vec::new());
        let names = ["a", "b", "c", "p"];
        let about = |n: &str| About::named(names.iter().find(|x| **x == n).unwrap());
        let l = load_in_order(
            &o,
            |n| {
                let n = n.to_str().unwrap();
                loaded.borrow_mut().push(format!("plugin {n}"));
                Ok(Box::new(FakePlugin {
                    about: about(n),
                    calls: Default::default(),
                }))
            },
            |n| {
                loaded.borrow_mut().push(format!("filter {n}"));
                if n == "b" {
                    return Err(Fatal::plain("no b"));
                }
                Ok(Box::new(FakeFilter {
                    about: about(n),
                    calls: Default::default(),
                }))
            },
        );
        assert_eq!(l.err().unwrap().to_string(), "nbdkit: no b");
        assert_eq!(
            *loaded.borrow(),
            ["plugin p", "filter c", "filter b"],
            "nothing after the first failure"
        );
        loaded.borrow_mut().clear();
        let o = Options {
            filters: vec!["a".into(), "c".into()],
            ..o
        };
        let l = load_in_order(
            &o,
            |n| {
                loaded
                    .borrow_mut()
                    .push(format!("plugin {}", n.to_str().unwrap()));
                Ok(Box::new(FakePlugin {
                    about: about("p"),
                    calls: Default::default(),
                }))
            },
            |n| {
                loaded.borrow_mut().push(format!("filter {n}"));
                Ok(Box::new(FakeFilter {
                    about: about(n),
                    calls: Default::default(),
                }))
            },
        )
        .unwrap();
        assert_eq!(*loaded.borrow(), ["plugin p", "filter c", "filter a"]);
        let order: Vec<&str> = l.filters.iter().map(|f| f.name()).collect();
        assert_eq!(order, ["a", "c"], "kept outermost first");
    }

    fn refusal(plugin: &str, filters: &[&str]) -> String {
        let o = Options {
            plugin: Some(plugin.into()),
            filters: filters.iter().map(|f| f.to_string()).collect(),
            ..Options::default()
        };
        super::layers(&o).err().expect("refused").to_string()
    }

    #[test]
    fn refusals_of_what_cannot_be_loaded() {
        assert_eq!(
            refusal("/nonexistent/plugin.so", &[]),
            "nbdkit: error: cannot open plugin \"/nonexistent/plugin.so\": \
             /nonexistent/plugin.so: cannot open shared object file: No such file or \
             directory\n\nUse 'nbdkit --help' or read the nbdkit(1) manual page for \
             documentation."
        );
        let libm = "/lib/x86_64-linux-gnu/libm.so.6";
        if Path::new(libm).exists() {
            assert_eq!(
                refusal(libm, &[]),
                format!("nbdkit: {libm}: {libm}: undefined symbol: plugin_init")
            );
        }
        // A built-in plugin loads; the filter does not.
        let e = refusal("null", &["/nonexistent/filter.so"]);
        assert!(
            e.starts_with("nbdkit: error: cannot open filter \"/nonexistent/filter.so\": "),
            "{e}"
        );
    }
}
