//! `-u USER` / `-g GROUP`: a name, else a number in C syntax; resolved
//! and applied as nbdkit does, once the sockets are bound and before
//! forking (so the pid file is written as the new user).  The group
//! first (and as the only supplementary group), then the user.

use crate::cli::Options;
use crate::fatal::Fatal;
use crate::sys;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

pub fn change_user(opts: &Options) -> Result<(), Fatal> {
    let uid = match &opts.user {
        Some(u) => Some(resolve(u, "parseuser", "-u", "user", sys::user_id)?),
        None => None,
    };
    let gid = match &opts.group {
        Some(g) => Some(resolve(g, "parsegroup", "-g", "group", sys::group_id)?),
        None => None,
    };
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    change_ids(uid, gid)?;
    log::debug!(
        "changed user to uid={} gid={}",
        uid.map_or(-1, |u| u as i64),
        gid.map_or(-1, |g| g as i64)
    );
    Ok(())
}

/// Drop privileges: the group (also as the only supplementary group)
/// before the user, whose change is irreversible.
fn change_ids(uid: Option<u32>, gid: Option<u32>) -> Result<(), Fatal> {
    let failed =
        |call: &str, e: std::io::Error| Fatal::error(format!("{call}: {}", sys::strerror(&e)));
    if let Some(g) = gid {
        sys::set_only_group(g).map_err(|e| failed("setgroups", e))?;
        sys::set_gid(g).map_err(|e| failed("setgid", e))?;
    }
    if let Some(u) = uid {
        sys::set_uid(u).map_err(|e| failed("setuid", e))?;
    }
    Ok(())
}

/// A user or group by name, else by number; nbdkit logs the number's
/// parse error, then says what was wrong.
fn resolve(
    v: &OsStr,
    what: &str,
    opt: &str,
    kind: &str,
    by_name: fn(&OsStr) -> Option<u32>,
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
        resolve(OsStr::new(v), "parseuser", "-u", "user", db)
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
        let e = resolve(OsStr::new("staff2"), "parsegroup", "-g", "group", db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nbdkit: -g option: staff2 is not a valid group name or gid"
        );
    }

    #[test]
    fn the_system_databases() {
        assert_eq!(sys::user_id(OsStr::new("root")), Some(0));
        assert_eq!(sys::group_id(OsStr::new("root")), Some(0));
        assert_eq!(sys::user_id(OsStr::new("no such user")), None);
        assert_eq!(sys::group_id(OsStr::new("no such group")), None);
    }

    #[test]
    fn no_user_or_group_changes_nothing() {
        // Neither -u nor -g: no id is touched (as any user may run this).
        assert!(change_user(&Options::default()).is_ok());
    }
}
