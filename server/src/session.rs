//! An open export: opening it for a client (every layer, in nbdkit's
//! order of questions) and what the handshake advertises for it.

use crate::backend::{BlockSize, Connection, Context, Error, Stack, Support, ThreadModel};
use crate::protocol::consts::*;
use crate::protocol::transmission::ExportCaps;
use crate::sparse_read::{SparsePolicy, SparseReads};
use std::sync::Arc;

/// An open export on one connection: the outermost layer's context (which
/// owns the contexts below it) and what was advertised.
pub struct Session {
    pub ctx: Context,
    pub caps: ExportCaps,
    /// Whether and when reads look for zeroes to send as holes.
    pub sparse: SparsePolicy,
}

impl Session {
    /// A session over one layer with these capabilities, for tests that
    /// drive requests without a handshake.
    #[cfg(test)]
    pub fn for_test(ctx: Context, caps: ExportCaps, sparse_reads: bool) -> Session {
        Session {
            ctx,
            caps,
            sparse: SparsePolicy::new(sparse_reads),
        }
    }

    /// Finalize every layer, then close them (outermost first).  A failed
    /// finalize is logged by the layer; the close happens regardless.
    pub fn close(self) {
        if let Err(e) = self.ctx.finalize() {
            if let Some(t) = e.unreported() {
                log::error!("{t}");
            }
        }
    }
}

/// What the handshake tells the client about an export.
#[derive(Debug, Clone)]
pub struct ExportInfo {
    pub size: u64,
    pub eflags: u16,
}

/// The export's block size constraints, checked, for NBD_INFO_BLOCK_SIZE
/// (asked only when a client wants them, as nbdkit).
pub fn block_size(ctx: &Context) -> Result<Option<BlockSize>, Error> {
    let b = ctx.block_size()?;
    if let Some(b) = b {
        check_block_size(b)?;
    }
    Ok(b)
}

/// Validate a plugin's block size constraints as nbdkit does.
pub fn check_block_size(b: BlockSize) -> Result<(), Error> {
    let BlockSize {
        minimum: min,
        preferred: pref,
        maximum: max,
    } = b;
    // The same checks, in the same order and with the same words, as
    // nbdkit 1.32, so that a plugin's bug reads the same under both.
    let problem = if min == 0 || min > 65536 {
        Some("minimum block size between 1 and 64K")
    } else if !min.is_power_of_two() {
        Some("minimum block size to a power of 2")
    } else if !pref.is_power_of_two() {
        Some("preferred block size to a power of 2")
    } else if !(512..=32 * 1024 * 1024).contains(&pref) {
        Some("preferred block size between 512 and 32M")
    } else if max != u32::MAX && max % min != 0 {
        Some("maximum block size to -1 or a multiple of minimum block size")
    } else if min > pref || pref > max {
        Some("minimum block size <= preferred <= maximum")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(Error::einval(format!("plugin must set {p}"))),
    }
}

/// Open the export for a client (every layer, then prepare them) and
/// gather what it advertises, asking in nbdkit's order.  `sparse_reads`:
/// which plugins' large structured reads may send zeroes as holes (see
/// [`SparseReads::applies_to`]).
pub fn open_export(
    stack: &Stack,
    conn: &Arc<Connection>,
    readonly: bool,
    export_name: &[u8],
    structured: bool,
    sparse_reads: SparseReads,
    error_messages: bool,
) -> Result<(Session, ExportInfo), Error> {
    let ctx = stack.open_top(conn, readonly, export_name)?;
    let sparse = SparsePolicy::new(sparse_reads.applies_to(stack));
    match advertise(stack, &ctx, structured) {
        Ok((mut caps, info)) => {
            caps.error_messages = error_messages;
            Ok((Session { ctx, caps, sparse }, info))
        }
        Err(e) => {
            Session {
                ctx,
                caps: ExportCaps::default(),
                sparse,
            }
            .close();
            Err(e)
        }
    }
}

fn advertise(
    stack: &Stack,
    ctx: &Context,
    structured: bool,
) -> Result<(ExportCaps, ExportInfo), Error> {
    let size = ctx.get_size()?;
    if size > i64::MAX as u64 {
        return Err(Error::eio(format!(
            "get_size: plugin returned invalid size {size}"
        )));
    }
    let readonly = !ctx.can_write()?;
    let mut eflags = NBD_FLAG_HAS_FLAGS;
    let mut caps = ExportCaps {
        size,
        readonly,
        structured,
        ..Default::default()
    };
    if readonly {
        eflags |= NBD_FLAG_READ_ONLY;
    }
    // Asked even when read-only (the context answers "no" without asking
    // the layer), as nbdkit does, whose -v shows each of them.
    caps.can_zero = ctx.can_zero()? != Support::None && !readonly;
    if caps.can_zero {
        eflags |= NBD_FLAG_SEND_WRITE_ZEROES;
    }
    // Asked even without zero support, as nbdkit does.
    caps.can_fast_zero = ctx.can_fast_zero()? && caps.can_zero;
    if caps.can_fast_zero {
        eflags |= NBD_FLAG_SEND_FAST_ZERO;
    }
    caps.can_trim = ctx.can_trim()? && !readonly;
    if caps.can_trim {
        eflags |= NBD_FLAG_SEND_TRIM;
    }
    caps.can_fua = ctx.can_fua()? != Support::None && !readonly;
    if caps.can_fua {
        eflags |= NBD_FLAG_SEND_FUA;
    }
    caps.can_flush = ctx.can_flush()?;
    if caps.can_flush {
        eflags |= NBD_FLAG_SEND_FLUSH;
    }
    if ctx.is_rotational()? {
        eflags |= NBD_FLAG_ROTATIONAL;
    }
    if structured {
        eflags |= NBD_FLAG_SEND_DF;
    }
    // Useless when connections are served one at a time.
    if ctx.can_multi_conn()? && stack.thread_model() > ThreadModel::SerializeConnections {
        eflags |= NBD_FLAG_CAN_MULTI_CONN;
    }
    caps.can_cache = ctx.can_cache()? != Support::None;
    if caps.can_cache {
        eflags |= NBD_FLAG_SEND_CACHE;
    }
    ctx.can_extents()?;
    // The block size and description are asked only when a client wants
    // them (NBD_INFO_*), as nbdkit.
    let info = ExportInfo { size, eflags };
    Ok((caps, info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::builtin::memory_plugin::MemoryPlugin;

    fn memory_stack(size: &str) -> Arc<Stack> {
        Stack::ready_for_test(Box::new(MemoryPlugin::new()), size)
    }

    fn open(
        stack: &Stack,
        readonly: bool,
        structured: bool,
        sparse: SparseReads,
    ) -> (Session, ExportInfo) {
        let conn = Arc::new(Connection::new(-1, false, stack.len()));
        open_export(stack, &conn, readonly, b"", structured, sparse, false).unwrap()
    }

    #[test]
    fn a_writable_export_advertises_what_its_plugin_can_do() {
        let stack = memory_stack("1M");
        let (s, info) = open(&stack, false, true, SparseReads::Exact);
        assert_eq!(info.size, 1 << 20);
        for (flag, name) in [
            (NBD_FLAG_HAS_FLAGS, "HAS_FLAGS"),
            (NBD_FLAG_SEND_WRITE_ZEROES, "WRITE_ZEROES"),
            (NBD_FLAG_SEND_TRIM, "TRIM"),
            (NBD_FLAG_SEND_FUA, "FUA"),
            (NBD_FLAG_SEND_FLUSH, "FLUSH"),
            (NBD_FLAG_SEND_DF, "DF"),
            (NBD_FLAG_CAN_MULTI_CONN, "MULTI_CONN"),
        ] {
            assert!(info.eflags & flag != 0, "{name} advertised");
        }
        assert_eq!(info.eflags & NBD_FLAG_READ_ONLY, 0);
        let c = &s.caps;
        assert!(!c.readonly && c.can_zero && c.can_trim && c.can_fua && c.can_flush);
        assert!(c.structured && !c.error_messages);
        // The memory plugin's extents are exact: its reads may be sparse.
        assert!(s.sparse.enabled);
        s.close();
    }

    #[test]
    fn a_readonly_export_advertises_no_writes() {
        let stack = memory_stack("64k");
        let (s, info) = open(&stack, true, false, SparseReads::Off);
        assert_eq!(info.size, 64 * 1024);
        assert!(info.eflags & NBD_FLAG_READ_ONLY != 0);
        for flag in [
            NBD_FLAG_SEND_WRITE_ZEROES,
            NBD_FLAG_SEND_FAST_ZERO,
            NBD_FLAG_SEND_TRIM,
            NBD_FLAG_SEND_FUA,
            NBD_FLAG_SEND_DF,
        ] {
            assert_eq!(info.eflags & flag, 0, "flag {flag:#x}");
        }
        let c = &s.caps;
        assert!(c.readonly && !c.can_zero && !c.can_trim && !c.can_fua && !c.structured);
        assert!(!s.sparse.enabled, "--sparse-reads=off");
        s.close();
    }

    #[test]
    fn block_sizes_are_checked_in_nbdkits_order_and_words() {
        let bs = |minimum, preferred, maximum| BlockSize {
            minimum,
            preferred,
            maximum,
        };
        assert!(check_block_size(bs(1, 4096, u32::MAX)).is_ok());
        assert!(check_block_size(bs(512, 4096, 1 << 20)).is_ok());
        for (b, want) in [
            (
                bs(0, 4096, u32::MAX),
                "minimum block size between 1 and 64K",
            ),
            (
                bs(1 << 17, 1 << 17, u32::MAX),
                "minimum block size between 1 and 64K",
            ),
            (bs(3, 4096, u32::MAX), "minimum block size to a power of 2"),
            (
                bs(1, 4000, u32::MAX),
                "preferred block size to a power of 2",
            ),
            (
                bs(1, 256, u32::MAX),
                "preferred block size between 512 and 32M",
            ),
            (
                bs(512, 4096, 4097 * 512 + 1),
                "maximum block size to -1 or a multiple of minimum block size",
            ),
            (
                bs(8192, 4096, u32::MAX),
                "minimum block size <= preferred <= maximum",
            ),
            (
                bs(512, 8192, 4096),
                "minimum block size <= preferred <= maximum",
            ),
        ] {
            let e = check_block_size(b).unwrap_err();
            assert_eq!(e.errno, libc::EINVAL);
            assert_eq!(e.to_string(), format!("plugin must set {want}"), "{b:?}");
        }
    }
}
