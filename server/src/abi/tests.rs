//! The adapter driven directly through the backend traits, with our C test
//! plugins (`make c-plugins` builds them into build/c-plugins/) and
//! Debian's real ones.  Tests whose `.so` is missing skip with a message.

use super::context::Call;
use super::exports;
use super::plugin::load;
use crate::backend::{ConnInfo, Extents, Flags, Plugin, Support, ThreadModel};
use crate::debug_flag::DebugFlag;
use std::path::PathBuf;
use std::sync::Mutex;

/// dlopen shares one copy of a plugin's globals per process, so tests that
/// load plugins take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn c_plugin(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../build/c-plugins")
        .join(format!("{name}.so"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not built (run `make c-plugins`)", p.display());
        None
    }
}

fn debian_plugin(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(format!(
        "/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-{name}-plugin.so"
    ));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not installed", p.display());
        None
    }
}

fn conn(_id: u64, export: &str) -> ConnInfo {
    ConnInfo::detached(export, false)
}

fn start(path: &std::path::Path, cfg: &[(&str, &str)]) -> Box<dyn Plugin> {
    let mut p = load(path, path.to_str().unwrap(), &[]).expect("load");
    for (k, v) in cfg {
        p.config(k, v).expect("config");
    }
    p.config_complete().expect("config_complete");
    p.get_ready().expect("get_ready");
    p.after_fork().expect("after_fork");
    p
}

#[test]
fn debian_memory_plugin_round_trip() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = debian_plugin("memory") else {
        return;
    };
    let p = start(&path, &[("size", "1M")]);
    assert_eq!(p.name(), "memory");
    assert_eq!(p.dump_abi(), (2, 384));
    assert_eq!(p.magic_config_key(), Some("size"));
    assert_eq!(
        p.dump_has(),
        [
            "unload",
            "dump_plugin",
            "config",
            "config_complete",
            "config_help",
            "get_ready",
            "open",
            "get_size",
            "can_fast_zero",
            "can_fua",
            "can_multi_conn",
            "can_cache",
            "pread",
            "pwrite",
            "flush",
            "trim",
            "zero",
            "extents"
        ]
    );
    let h = p.open(&conn(1, "")).unwrap();
    assert_eq!(h.get_size().unwrap(), 1 << 20);
    assert!(h.can_write().unwrap());
    assert_eq!(h.can_zero().unwrap(), crate::backend::Support::Native);
    assert!(h.can_extents().unwrap());
    assert_eq!(h.can_fua().unwrap(), Support::Native);
    h.pwrite(&[7u8; 4096], 8192, Flags(Flags::FUA)).unwrap();
    let mut buf = vec![0u8; 4096];
    h.pread(&mut buf, 8192, Flags::NONE).unwrap();
    assert!(buf.iter().all(|b| *b == 7));
    h.zero(4096, 8192, Flags(Flags::MAY_TRIM)).unwrap();
    h.pread(&mut buf, 8192, Flags::NONE).unwrap();
    assert!(buf.iter().all(|b| *b == 0));
    let mut e = Extents::new(0, 1 << 20).unwrap();
    h.extents(1 << 20, 0, Flags::NONE, &mut e).unwrap();
    assert!(e.count() >= 1);
    assert_eq!(e.get(0).unwrap().offset, 0);
}

#[test]
fn load_failures_use_nbdkits_messages() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let err = load(&PathBuf::from("/nonexistent.so"), "/nonexistent.so", &[])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "nbdkit: error: cannot open plugin \"/nonexistent.so\": /nonexistent.so: cannot open shared \
         object file: No such file or directory\n\nUse 'nbdkit --help' or read the nbdkit(1) \
         manual page for documentation."
    );
    // A short name that could be a package's gets nbdkit 1.44.1's hint;
    // names are quoted as C strings.
    let err = load(
        &PathBuf::from("/nonexistent/nbdkit-nosuch-plugin.so"),
        "nosuch",
        &[],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains(
            "\n\nTo add this functionality you might need to install a separate\n\
                      plugin package such as nbdkit-nosuch-plugin (Fedora) or\n\
                      nbdkit-plugin-nosuch (Debian).\n\nUse 'nbdkit --help'"
        ),
        "{err}"
    );
    let err = load(&PathBuf::from("bad\r"), "bad\r", &[])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("nbdkit: error: cannot open plugin \"bad\\r\": bad\\r: "),
        "{err}"
    );
    assert!(!err.contains("To add"), "{err}");
    // A shared object without plugin_init (libc has none).
    let libc_so = PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6");
    if libc_so.exists() {
        let err = load(&libc_so, "libm", &[]).err().unwrap().to_string();
        assert!(err.ends_with("undefined symbol: plugin_init"), "{err}");
    }
}

/// 64-bit effect lengths (extended headers) reach a C plugin, whose
/// callbacks take 32-bit counts, split into pieces covering the whole
/// range: data past 4 GiB inside a 5 GiB zero request is zeroed too.
#[test]
fn sixty_four_bit_lengths_split_for_c_callbacks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = debian_plugin("memory") else {
        return;
    };
    let p = start(&path, &[("size", "8G")]);
    let h = p.open(&conn(1, "")).unwrap();
    let at = [(1u64 << 30) - 1, 4 << 30, (9 << 29) + 7, (5 << 30) - 4];
    for off in at {
        h.pwrite(b"DATA", off, Flags::NONE).unwrap();
    }
    h.pwrite(b"KEEP", 5 << 30, Flags::NONE).unwrap();
    h.zero(5 << 30, 0, Flags::NONE).unwrap();
    let mut b = [0u8; 4];
    for off in at {
        h.pread(&mut b, off, Flags::NONE).unwrap();
        assert_eq!(&b, &[0; 4], "zeroed at {off}");
    }
    h.pread(&mut b, 5 << 30, Flags::NONE).unwrap();
    assert_eq!(&b, b"KEEP", "the byte after the range is untouched");
    for off in at {
        h.pwrite(b"DATA", off, Flags::NONE).unwrap();
    }
    h.trim(5 << 30, 0, Flags::NONE).unwrap();
    for off in at {
        h.pread(&mut b, off, Flags::NONE).unwrap();
        assert_eq!(&b, &[0; 4], "trimmed at {off}");
    }
    h.pread(&mut b, 5 << 30, Flags::NONE).unwrap();
    assert_eq!(&b, b"KEEP");
    // A 64-bit extents request is clipped for the callback, not wrapped.
    let mut e = Extents::new(1 << 30, 8 << 30).unwrap();
    h.extents(7 << 30, 1 << 30, Flags::NONE, &mut e).unwrap();
    assert_eq!(e.as_slice()[0].offset, 1 << 30);
}

#[test]
fn api_v1_plugin() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = c_plugin("v1") else { return };
    let p = start(&path, &[("size", "2M")]);
    assert_eq!(p.dump_abi(), (1, 384));
    assert_eq!(p.thread_model(), ThreadModel::SerializeAllRequests);
    assert!(p.dump_has().contains(&"_pread_v1"));
    let h = p.open(&conn(1, "")).unwrap();
    assert_eq!(h.get_size().unwrap(), 2 << 20);
    assert!(h.can_write().unwrap() && h.can_flush().unwrap() && h.can_trim().unwrap());
    // v1 plugins never get FUA: it is emulated with flush.
    assert_eq!(h.can_fua().unwrap(), Support::Emulate);
    assert!(h.can_fast_zero().unwrap());
    h.pwrite(b"hello", 100, Flags(Flags::FUA)).unwrap();
    let mut b = [0u8; 5];
    h.pread(&mut b, 100, Flags::NONE).unwrap();
    assert_eq!(&b, b"hello");
    h.zero(5, 100, Flags(Flags::MAY_TRIM | Flags::FUA)).unwrap();
    h.pread(&mut b, 100, Flags::NONE).unwrap();
    assert_eq!(b, [0; 5]);
    assert_eq!(
        h.zero(5, 100, Flags(Flags::FAST_ZERO)).unwrap_err().errno,
        libc::ENOTSUP
    );
    h.trim(5, 100, Flags::NONE).unwrap();
    h.flush(Flags::NONE).unwrap();
}

#[test]
fn errno_paths() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(pres), Some(nopres)) = (c_plugin("errors"), c_plugin("errors-noerrno")) else {
        return;
    };
    // `msg` is what the plugin logs with nbdkit_error; the Error carries
    // no message of its own (already reported), and keeps that text as the
    // reason for the client.
    for (path, mode, errno, msg) in [
        (&pres, "seterr", libc::ENOSPC, "pread: failing with ENOSPC"),
        (
            &pres,
            "errno",
            libc::EROFS,
            "pread: failing with errno EROFS",
        ),
        (&pres, "plain", libc::EIO, "pread: failing without an errno"),
        (
            &nopres,
            "seterr",
            libc::ENOSPC,
            "pread: failing with ENOSPC",
        ),
        (
            &nopres,
            "errno",
            libc::EIO,
            "pread: failing with errno EROFS",
        ),
    ] {
        let p = start(path, &[("mode", mode)]);
        let h = p.open(&conn(1, "")).unwrap();
        let mut b = [0u8; 512];
        h.pread(&mut b, 0, Flags::NONE).unwrap();
        let e = h.pread(&mut b, 512, Flags::NONE).unwrap_err();
        assert_eq!(
            (e.errno, e.unreported()),
            (errno, None),
            "{} mode={mode}",
            path.display()
        );
        assert_eq!(e.client_message(), msg);
        assert_eq!(e.context.callback, Some("pread"));
        // The error does not leak into the next, successful call.
        h.pread(&mut b, 0, Flags::NONE).unwrap();
    }
    let p = start(&pres, &[("mode", "seterr"), ("fail", "open")]);
    let e = p.open(&conn(2, "")).err().unwrap();
    assert_eq!((e.errno, e.unreported()), (libc::ENOSPC, None));
    let mut p = load(&pres, "errors", &[]).unwrap();
    p.config("fail", "config_complete").unwrap();
    p.config("mode", "errno").unwrap();
    let e = p.config_complete().unwrap_err();
    assert_eq!((e.errno, e.unreported()), (libc::EROFS, None));
    p.config("fail", "get_size").unwrap();
    let h = p.open(&conn(3, "")).unwrap();
    assert_eq!(h.get_size().unwrap_err().errno, libc::EROFS);
    p.config("fail", "").unwrap();
}

#[test]
fn everything_plugin() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = c_plugin("everything") else {
        return;
    };
    let mut p = start(
        &path,
        &[("int", "0x10"), ("password", "secret"), ("path", ".")],
    );
    let c = conn(7, "");
    p.preconnect(&c).unwrap();
    let list = p.list_exports(&c).unwrap().unwrap();
    let names: Vec<_> = list
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.description.as_deref()))
        .collect();
    assert_eq!(names, [("a", Some("export a")), ("b", None)]);
    // The default export is listed too, resolved by the stack.
    assert!(list.use_default);
    assert_eq!(p.default_export(&c).unwrap().as_deref(), Some("dflt"));
    let h = p.open(&conn(7, "b")).unwrap();
    assert_eq!(
        h.export_description().unwrap().as_deref(),
        Some("description of [b]")
    );
    let bs = h.block_size().unwrap().unwrap();
    assert_eq!((bs.minimum, bs.preferred, bs.maximum), (1, 4096, u32::MAX));
    assert!(!h.can_write().unwrap());
    assert!(h.can_extents().unwrap());
    let mut e = Extents::new(4096, 1 << 20).unwrap();
    h.extents((1 << 20) - 4096, 4096, Flags::NONE, &mut e)
        .unwrap();
    let got: Vec<_> = e
        .as_slice()
        .iter()
        .map(|x| (x.offset, x.length, x.kind))
        .collect();
    assert_eq!(
        got,
        [(4096, 512 * 1024 - 4096, 3), (512 * 1024, 512 * 1024, 0)]
    );
    let bad = p.config("int", "12x").unwrap_err();
    assert_eq!((bad.errno, bad.unreported()), (libc::EIO, None));
}

#[test]
fn thread_models_and_debug_flags() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (name, tm) in [
        (
            "threads-serialize_connections",
            ThreadModel::SerializeConnections,
        ),
        (
            "threads-serialize_all_requests",
            ThreadModel::SerializeAllRequests,
        ),
        ("threads-serialize_requests", ThreadModel::SerializeRequests),
        ("threads-parallel", ThreadModel::Parallel),
    ] {
        let Some(path) = c_plugin(name) else { return };
        let p = load(&path, name, &[]).unwrap();
        assert_eq!((p.max_thread_model(), p.thread_model()), (tm, tm));
    }
    let Some(path) = c_plugin("debugflags") else {
        return;
    };
    let flags = [
        DebugFlag {
            name: "debugflags".into(),
            flag: "foo".into(),
            value: 42,
        },
        DebugFlag {
            name: "debugflags".into(),
            flag: "bar.baz".into(),
            value: 3,
        },
        DebugFlag {
            name: "other".into(),
            flag: "x".into(),
            value: 1,
        },
    ];
    let p = load(&path, "debugflags", &flags).unwrap();
    let h = p.open(&conn(1, "")).unwrap();
    let mut b = [0u8; 4];
    h.pread(&mut b, 0, Flags::NONE).unwrap();
    assert_eq!(b, [42; 4]);
    let bad = [DebugFlag {
        name: "debugflags".into(),
        flag: "nope".into(),
        value: 1,
    }];
    // nbdkit only warns about a flag the plugin lacks.
    assert!(load(&path, "debugflags", &bad).is_ok());
}

#[test]
fn parse_functions_match_nbdkit() {
    use std::ffi::CString;
    let cases: [(&str, Result<i64, &str>); 6] = [
        ("0x10", Ok(16)),
        ("010", Ok(8)),
        (" 5", Ok(5)),
        ("abc", Err("n: empty string where we expected a number")),
        (
            "12x",
            Err("n: could not parse number: \"12x\": trailing garbage"),
        ),
        (
            "99999999999",
            Err("n: could not parse number: \"99999999999\": Numerical result out of range"),
        ),
    ];
    for (s, want) in cases {
        let call = Call::enter(None);
        let cs = CString::new(s).unwrap();
        let mut r: libc::c_int = -7;
        // SAFETY: valid strings and a valid out pointer.
        let rc = unsafe { exports::nbdkit_parse_int(c"n".as_ptr(), cs.as_ptr(), &mut r) };
        match want {
            Ok(v) => assert_eq!((rc, r as i64), (0, v), "{s}"),
            Err(m) => {
                assert_eq!((rc, r), (-1, -7), "{s}");
                assert_eq!(call.take_msg().as_deref(), Some(m));
            }
        }
    }
    let call = Call::enter(None);
    let mut u: u8 = 0;
    // SAFETY: valid strings and a valid out pointer.
    let r = unsafe { exports::nbdkit_parse_uint8_t(c"u".as_ptr(), c"-1".as_ptr(), &mut u) };
    assert_eq!(r, -1);
    assert_eq!(
        call.take_msg().as_deref(),
        Some("u: negative numbers are not allowed")
    );
}

#[test]
fn struct_layout_is_nbdkit_1_32() {
    use super::bindings::nbdkit_plugin as P;
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<P>(), 384);
    let want: [(usize, usize); 16] = [
        (offset_of!(P, _struct_size), 0),
        (offset_of!(P, _api_version), 8),
        (offset_of!(P, _thread_model), 12),
        (offset_of!(P, name), 16),
        (offset_of!(P, open), 88),
        (offset_of!(P, get_size), 104),
        (offset_of!(P, _pread_v1), 144),
        (offset_of!(P, _zero_v1), 176),
        (offset_of!(P, errno_is_preserved), 184),
        (offset_of!(P, pread), 216),
        (offset_of!(P, magic_config_key), 256),
        (offset_of!(P, extents), 280),
        (offset_of!(P, thread_model), 304),
        (offset_of!(P, preconnect), 320),
        (offset_of!(P, cleanup), 368),
        (offset_of!(P, block_size), 376),
    ];
    for (i, (got, exp)) in want.iter().enumerate() {
        assert_eq!(got, exp, "field #{i}");
    }
}

#[test]
fn debian_python_plugin_with_a_script() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = debian_plugin("python") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("nbdkit-rs-abi-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("disk.py");
    std::fs::write(
        &script,
        "import nbdkit, errno\n\
         API_VERSION = 2\n\
         disk = bytearray(65536)\n\
         def open(readonly):\n    return 1\n\
         def get_size(h):\n    return len(disk)\n\
         def pread(h, buf, offset, flags):\n\
         \x20   if offset >= 32768:\n\
         \x20       nbdkit.set_error(errno.ENOSPC)\n\
         \x20       raise RuntimeError('too far')\n\
         \x20   buf[:] = disk[offset:offset+len(buf)]\n\
         def pwrite(h, buf, offset, flags):\n    disk[offset:offset+len(buf)] = buf\n",
    )
    .unwrap();
    let p = start(&path, &[("script", script.to_str().unwrap())]);
    assert_eq!(p.name(), "python");
    let h = p.open(&conn(1, "")).unwrap();
    assert_eq!(h.get_size().unwrap(), 65536);
    assert!(h.can_write().unwrap());
    h.pwrite(b"python", 10, Flags::NONE).unwrap();
    let mut b = [0u8; 6];
    h.pread(&mut b, 10, Flags::NONE).unwrap();
    assert_eq!(&b, b"python");
    let e = h.pread(&mut b, 40000, Flags::NONE).unwrap_err();
    assert_eq!(e.errno, libc::ENOSPC);
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nanosleep_ends_when_the_client_hangs_up() {
    use crate::backend::Connection;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};
    let (ours, client) = std::os::unix::net::UnixStream::pair().unwrap();
    let st = std::sync::Arc::new(Connection::new(ours.as_raw_fd(), false, 1));
    let call = Call::enter(Some(&st));

    // The client is still there: the whole sleep.
    let t0 = Instant::now();
    assert_eq!(exports::nbdkit_nanosleep(0, 50_000_000), 0);
    assert!(t0.elapsed() >= Duration::from_millis(50));

    let t0 = Instant::now();
    let hangup = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(client);
    });
    let r = exports::nbdkit_nanosleep(30, 0);
    let errno = std::io::Error::last_os_error().raw_os_error();
    hangup.join().unwrap();
    assert_eq!((r, errno), (-1, Some(libc::ESHUTDOWN)));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(
        call.take_msg().as_deref(),
        Some("aborting sleep because of connection close or error")
    );
}
