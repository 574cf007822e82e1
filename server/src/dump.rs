//! `--dump-config` (the build's settings, as nbdkit 1.44.1 lists them)
//! and `--dump-plugin` (what the plugin says about itself).

use crate::backend::{self, Layers};
use std::ffi::OsStr;
use std::io::{self, Write};

pub fn dump_config() {
    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let (pd, fd) = (
        backend::registry::DEFAULT_PLUGIN_DIR,
        backend::registry::DEFAULT_FILTER_DIR,
    );
    let _ = write_config(&mut std::io::stdout().lock(), &bin, pd, fd);
}

/// The settings of this build: `bin` is the server's own path, `pd` and
/// `fd` where it looks for plugins and filters.
fn write_config(o: &mut dyn Write, bin: &str, pd: &str, fd: &str) -> io::Result<()> {
    let dir = std::path::Path::new(bin)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let libdir = std::path::Path::new(pd).parent().and_then(|p| p.parent());
    let libdir = libdir.map(|p| p.display().to_string()).unwrap_or_default();
    let mut v = crate::version::VERSION.split('.');
    let (major, minor) = (v.next().unwrap_or("1"), v.next().unwrap_or("0"));
    // nbdkit 1.44.1's keys, in its (alphabetical) order.
    write!(
        o,
        "binary={bin}\nbindir={dir}\nexit_with_parent=yes\nfilterdir={fd}\n\
         host_cpu={}\nhost_os=linux-gnu\nlibdir={libdir}\nmandir=/usr/share/man\n\
         max_api_version=2\nname=nbdkit\nplugindir={pd}\n\
         root_tls_certificates_dir=/etc/pki/nbdkit\nrun_default_socket=Unix\nsbindir={dir}\n\
         selinux=no\nsoext=so\nsysconfdir=/etc\ntimeout_option=yes\ntls=yes\nversion={ver}\n\
         version_major={major}\nversion_minor={minor}\nvsock_option=yes\nzstd=no\n",
        std::env::consts::ARCH,
        ver = crate::version::VERSION
    )
}

pub fn dump_plugin(layers: &Layers, arg: &OsStr) {
    let path = backend::registry::plugin_path(arg);
    write_plugin(&mut std::io::stdout(), layers, &path);
}

/// What `--dump-plugin` prints for the plugin loaded from `path`, then
/// for each filter.  A C filter prints its own lines on stdout, so `o`
/// is flushed before each filter's turn.  As nbdkit's printf, a failed
/// write stops nothing.
fn write_plugin(o: &mut dyn Write, layers: &Layers, path: &std::path::Path) {
    let p = &*layers.plugin;
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.into());
    let _ = writeln!(o, "path={}", path.display());
    let _ = writeln!(o, "name={}", p.name());
    if let Some(v) = p.version() {
        let _ = writeln!(o, "version={v}");
    }
    let (api, size) = p.dump_abi();
    let _ = writeln!(o, "api_version={api}\nstruct_size={size}");
    let _ = writeln!(o, "max_thread_model={}", p.max_thread_model().name());
    // The model the server would run with: the filters may narrow it.
    let model = layers
        .thread_model()
        .unwrap_or_else(|_| p.thread_model().min(p.max_thread_model()));
    let _ = writeln!(o, "thread_model={}", model.name());
    let _ = writeln!(o, "errno_is_preserved={}", p.errno_is_preserved() as i32);
    if let Some(m) = p.magic_config_key() {
        let _ = writeln!(o, "magic_config_key={m}");
    }
    for h in p.dump_has() {
        let _ = writeln!(o, "has_{h}=1");
    }
    let _ = o.flush();
    let _ = p.dump_plugin(o);
    let _ = o.flush();
    // Then each filter, from the inside out, as nbdkit 1.36 and later.
    for f in layers.filters.iter().rev() {
        let path = std::fs::canonicalize(f.path()).unwrap_or_else(|_| f.path().into());
        let _ = write!(
            o,
            "{n}_path={}\n{n}_name={n}\n",
            path.display(),
            n = f.name()
        );
        let _ = o.flush();
        f.dump_plugin();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_layers::{layers, About};

    #[test]
    fn config_keys_in_order_with_this_builds_values() {
        let mut out = Vec::new();
        let (pd, fd) = ("/opt/lib64/nbdkit/plugins", "/srv/filters");
        write_config(&mut out, "/opt/nbdkit/sbin/nbdkit", pd, fd).unwrap();
        let text = String::from_utf8(out).unwrap();
        let pairs: Vec<(&str, &str)> = text
            .lines()
            .map(|l| l.split_once('=').expect("key=value"))
            .collect();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "alphabetical, as nbdkit");
        let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        assert_eq!(get("binary"), Some("/opt/nbdkit/sbin/nbdkit"));
        assert_eq!(get("bindir"), Some("/opt/nbdkit/sbin"));
        assert_eq!(get("sbindir"), Some("/opt/nbdkit/sbin"));
        // Each directory where this build looks (the filters' may be
        // elsewhere); libdir is the plugins' LIBDIR/nbdkit/plugins.
        assert_eq!(get("plugindir"), Some(pd));
        assert_eq!(get("filterdir"), Some(fd));
        assert_eq!(get("libdir"), Some("/opt/lib64"));
        let v = crate::version::VERSION;
        assert_eq!(get("version"), Some(v));
        let (major, rest) = v.split_once('.').unwrap();
        assert_eq!(get("version_major"), Some(major));
        assert_eq!(get("version_minor"), rest.split('.').next());
        assert_eq!(get("run_default_socket"), Some("Unix"));
        assert_eq!(get("host_cpu"), Some(std::env::consts::ARCH));
    }

    #[test]
    fn plugin_then_filters_from_the_inside_out() {
        let (l, _) = layers(
            &[
                About {
                    path: "/f/nbdkit-outer-filter.so",
                    ..About::named("outer")
                },
                About {
                    path: "/f/nbdkit-inner-filter.so",
                    ..About::named("inner")
                },
            ],
            About {
                version: Some("1.2.3"),
                magic_config_key: Some("script"),
                ..About::named("fake")
            },
        );
        let mut out = Vec::new();
        write_plugin(&mut out, &l, "/p/nbdkit-fake-plugin.so".as_ref());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "path=/p/nbdkit-fake-plugin.so\nname=fake\nversion=1.2.3\n\
             api_version=2\nstruct_size=384\n\
             max_thread_model=parallel\nthread_model=parallel\n\
             errno_is_preserved=1\nmagic_config_key=script\n\
             inner_path=/f/nbdkit-inner-filter.so\ninner_name=inner\n\
             outer_path=/f/nbdkit-outer-filter.so\nouter_name=outer\n"
        );
    }

    #[test]
    fn a_plugin_without_version_or_magic_key_says_neither() {
        let (l, _) = layers(&[], About::named("bare"));
        let mut out = Vec::new();
        write_plugin(&mut out, &l, "/p/bare.so".as_ref());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("path=/p/bare.so\nname=bare\napi_version=2\n"),
            "{text}"
        );
        assert!(!text.contains("\nversion="), "{text}");
        assert!(!text.contains("magic_config_key"), "{text}");
    }
}
