//! `--dump-config` (the build's settings, as nbdkit 1.44.1 lists them)
//! and `--dump-plugin` (what the plugin says about itself).

use crate::backend::{self, Layers};
use std::ffi::OsStr;
use std::io::Write;

pub fn dump_config() {
    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let dir = std::path::Path::new(&bin)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pd = backend::registry::DEFAULT_PLUGIN_DIR;
    let libdir = std::path::Path::new(pd).parent().and_then(|p| p.parent());
    let libdir = libdir.map(|p| p.display().to_string()).unwrap_or_default();
    let mut o = std::io::stdout().lock();
    let mut v = crate::version::VERSION.split('.');
    let (major, minor) = (v.next().unwrap_or("1"), v.next().unwrap_or("0"));
    // nbdkit 1.44.1's keys, in its (alphabetical) order.
    let _ = write!(
        o,
        "binary={bin}\nbindir={dir}\nexit_with_parent=yes\nfilterdir={libdir}/nbdkit/filters\n\
         host_cpu={}\nhost_os=linux-gnu\nlibdir={libdir}\nmandir=/usr/share/man\n\
         max_api_version=2\nname=nbdkit\nplugindir={pd}\n\
         root_tls_certificates_dir=/etc/pki/nbdkit\nrun_default_socket=Unix\nsbindir={dir}\n\
         selinux=no\nsoext=so\nsysconfdir=/etc\ntimeout_option=yes\ntls=yes\nversion={ver}\n\
         version_major={major}\nversion_minor={minor}\nvsock_option=yes\nzstd=no\n",
        std::env::consts::ARCH,
        ver = crate::version::VERSION
    );
}

pub fn dump_plugin(layers: &Layers, arg: &OsStr) {
    let p = &*layers.plugin;
    let mut o = std::io::stdout().lock();
    let path = backend::registry::plugin_path(arg);
    let path = std::fs::canonicalize(&path).unwrap_or(path);
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
    drop(o);
    let mut out = std::io::stdout();
    let _ = p.dump_plugin(&mut out);
    let _ = out.flush();
    // Then each filter, from the inside out, as nbdkit 1.36 and later.
    for f in layers.filters.iter().rev() {
        let path = std::fs::canonicalize(f.path()).unwrap_or_else(|_| f.path().into());
        let _ = write!(
            out,
            "{n}_path={}\n{n}_name={n}\n",
            path.display(),
            n = f.name()
        );
        let _ = out.flush();
        f.dump_plugin();
    }
}
