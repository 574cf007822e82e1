//! `-u USER` / `-g GROUP`: a name, else a number in C syntax; resolved
//! and applied as nbdkit does, once the sockets are bound and before
//! forking (so the pid file is written as the new user).  The group
//! first (and as the only supplementary group), then the user.

use crate::cli::Options;
use crate::fatal::Fatal;
use crate::sys;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

pub fn change_user(opts: &Options) -> Result<(), Fatal> {
    change(opts.user.as_deref(), opts.group.as_deref(), &mut System)
}

/// Where users and groups are looked up, and the calls that change the
/// process's own (a test records them instead).
trait Ids {
    fn user_id(&self, name: &OsStr) -> Option<u32>;
    fn group_id(&self, name: &OsStr) -> Option<u32>;
    fn set_gid(&mut self, gid: u32) -> io::Result<()>;
    fn set_only_group(&mut self, gid: u32) -> io::Result<()>;
    fn set_uid(&mut self, uid: u32) -> io::Result<()>;
}

/// The system's databases and calls.
struct System;

impl Ids for System {
    fn user_id(&self, name: &OsStr) -> Option<u32> {
        sys::user_id(name)
    }
    fn group_id(&self, name: &OsStr) -> Option<u32> {
        sys::group_id(name)
    }
    fn set_gid(&mut self, gid: u32) -> io::Result<()> {
        sys::set_gid(gid)
    }
    fn set_only_group(&mut self, gid: u32) -> io::Result<()> {
        sys::set_only_group(gid)
    }
    fn set_uid(&mut self, uid: u32) -> io::Result<()> {
        sys::set_uid(uid)
    }
}

/// As nbdkit: the group first (`setgid`, then `setgroups` to drop the
/// parent's supplementary groups), then the user, whose change is
/// irreversible; each is resolved just before it is applied, so a bad
/// `-g` is reported before a bad `-u`.
fn change(user: Option<&OsStr>, group: Option<&OsStr>, ids: &mut dyn Ids) -> Result<(), Fatal> {
    if let Some(g) = group {
        let gid = resolve(g, "parsegroup", "-g", "group", &|n| ids.group_id(n))?;
        ids.set_gid(gid).map_err(|e| perror("setgid", e))?;
        ids.set_only_group(gid)
            .map_err(|e| perror("setgroups", e))?;
        log::debug!("changed group to {}", g.to_string_lossy());
    }
    if let Some(u) = user {
        let uid = resolve(u, "parseuser", "-u", "user", &|n| ids.user_id(n))?;
        ids.set_uid(uid).map_err(|e| perror("setuid", e))?;
        log::debug!("changed user to {}", u.to_string_lossy());
    }
    Ok(())
}

/// A failed call, as nbdkit's `perror` says it.
fn perror(call: &str, e: io::Error) -> Fatal {
    Fatal::text(format!("{call}: {}", sys::strerror(&e)))
}

/// A user or group by name, else by number; nbdkit logs the number's
/// parse error, then says what was wrong.
fn resolve(
    v: &OsStr,
    what: &str,
    opt: &str,
    kind: &str,
    by_name: &dyn Fn(&OsStr) -> Option<u32>,
) -> Result<u32, Fatal> {
    if let Some(id) = by_name(v) {
        return Ok(id);
    }
    match crate::parse::integer(what, v.as_bytes(), true, i32::MIN as i128, i32::MAX as i128) {
        Ok(n) => Ok(n as u32),
        Err(e) => {
            log::error!("{e}");
            Err(Fatal::plain(format!(
                "{opt} option: {} is not a valid {kind} name or {}id",
                v.to_string_lossy(),
                &kind[..1]
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user database with one name, `alice` (and `1000`, a name that
    /// looks like a number).
    fn db(name: &OsStr) -> Option<u32> {
        match name.to_str() {
            Some("alice") => Some(501),
            Some("1000") => Some(7),
            _ => None,
        }
    }

    fn user(v: &str) -> Result<u32, Fatal> {
        resolve(OsStr::new(v), "parseuser", "-u", "user", &db)
    }

    #[test]
    fn names_first_then_numbers_in_c_syntax() {
        assert_eq!(user("alice").unwrap(), 501);
        assert_eq!(user("1000").unwrap(), 7, "a name wins over a number");
        assert_eq!(user("1001").unwrap(), 1001);
        assert_eq!(user("0x10").unwrap(), 16);
        assert_eq!(user("010").unwrap(), 8);
        assert_eq!(user(" 42").unwrap(), 42);
        // nbdkit parses an int and casts it to uid_t.
        assert_eq!(user("-1").unwrap(), u32::MAX);
    }

    #[test]
    fn unknown_names_and_bad_numbers_are_refused() {
        let e = user("nosuchuser").unwrap_err();
        assert_eq!(
            e.to_string(),
            "nbdkit: -u option: nosuchuser is not a valid user name or uid"
        );
        assert_eq!(e.status, 1);
        assert!(user("2147483648").is_err(), "past INT_MAX");
        assert!(user("12abc").is_err());
        assert!(user("").is_err());
        let e = resolve(OsStr::new("staff2"), "parsegroup", "-g", "group", &db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nbdkit: -g option: staff2 is not a valid group name or gid"
        );
    }

    #[test]
    fn the_system_databases() {
        assert_eq!(System.user_id(OsStr::new("root")), Some(0));
        assert_eq!(System.group_id(OsStr::new("root")), Some(0));
        assert_eq!(System.user_id(OsStr::new("no such user")), None);
        assert_eq!(System.group_id(OsStr::new("no such group")), None);
    }

    /// Users `alice` (501) and groups `staff` (20); records the calls,
    /// and fails the one named in `fail` with EPERM.
    #[derive(Default)]
    struct Fake {
        calls: Vec<String>,
        fail: Option<&'static str>,
    }

    impl Fake {
        fn call(&mut self, name: &'static str, id: u32) -> io::Result<()> {
            self.calls.push(format!("{name} {id}"));
            match self.fail == Some(name) {
                true => Err(io::Error::from_raw_os_error(libc::EPERM)),
                false => Ok(()),
            }
        }
    }

    impl Ids for Fake {
        fn user_id(&self, name: &OsStr) -> Option<u32> {
            (name == "alice").then_some(501)
        }
        fn group_id(&self, name: &OsStr) -> Option<u32> {
            (name == "staff").then_some(20)
        }
        fn set_gid(&mut self, gid: u32) -> io::Result<()> {
            self.call("setgid", gid)
        }
        fn set_only_group(&mut self, gid: u32) -> io::Result<()> {
            self.call("setgroups", gid)
        }
        fn set_uid(&mut self, uid: u32) -> io::Result<()> {
            self.call("setuid", uid)
        }
    }

    fn run(
        user: Option<&str>,
        group: Option<&str>,
        fail: Option<&'static str>,
    ) -> (String, Vec<String>) {
        let mut ids = Fake {
            fail,
            ..Fake::default()
        };
        let r = change(user.map(OsStr::new), group.map(OsStr::new), &mut ids);
        (
            r.err().map(|e| e.to_string()).unwrap_or_default(),
            ids.calls,
        )
    }

    #[test]
    fn the_group_then_the_user() {
        assert_eq!(
            run(Some("alice"), Some("staff"), None),
            (
                String::new(),
                vec![
                    "setgid 20".into(),
                    "setgroups 20".into(),
                    "setuid 501".into()
                ]
            )
        );
        assert_eq!(run(Some("7"), None, None).1, ["setuid 7"]);
        assert_eq!(
            run(None, Some("0x10"), None).1,
            ["setgid 16", "setgroups 16"]
        );
        assert_eq!(run(None, None, None), (String::new(), vec![]));
    }

    #[test]
    fn a_bad_group_is_reported_first_and_changes_nothing() {
        let (e, calls) = run(Some("bob"), Some("wheel"), None);
        assert_eq!(
            e,
            "nbdkit: -g option: wheel is not a valid group name or gid"
        );
        assert!(calls.is_empty());
        // The group is changed before the user is looked up.
        let (e, calls) = run(Some("bob"), Some("staff"), None);
        assert_eq!(e, "nbdkit: -u option: bob is not a valid user name or uid");
        assert_eq!(calls, ["setgid 20", "setgroups 20"]);
    }

    #[test]
    fn a_failed_call_stops_as_nbdkits_perror_says() {
        let (e, calls) = run(Some("alice"), Some("staff"), Some("setgid"));
        assert_eq!(e, "setgid: Operation not permitted");
        assert_eq!(calls, ["setgid 20"]);
        let (e, calls) = run(Some("alice"), Some("staff"), Some("setgroups"));
        assert_eq!(e, "setgroups: Operation not permitted");
        assert_eq!(calls.len(), 2);
        let (e, _) = run(Some("alice"), None, Some("setuid"));
        assert_eq!(e, "setuid: Operation not permitted");
    }
}
