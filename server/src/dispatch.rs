//! Between the wire and the backend: running one validated request
//! against an open export (`session`), producing the reply bytes.
//! Knows the protocol's values but not sockets or the event loop.

use crate::backend::extents::{Extents, EXTENT_HOLE, EXTENT_ZERO};
use crate::backend::request_memory::{self as memory, Held};
use crate::backend::{piece_slices, Context, Error, Flags};
use crate::protocol::consts::*;
use crate::protocol::transmission::{
    self as tx, Command, ExportCaps, Reply, ReplyMode, Request, Valid,
};
use crate::session::Session;
use crate::sparse_read::{self as sparse, Segment};

/// Where a reply goes: one call per reply, parts sent contiguously.
pub trait ReplySink {
    fn send(&self, parts: &[&[u8]]);

    /// Send `head` and then `len` bytes that `fill` writes (a read's
    /// data), or nothing when `fill` fails.  A sink that gathers replies
    /// in memory lets `fill` write there, saving a copy.
    fn send_filled(
        &self,
        head: &[u8],
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut buf = take_read_buffer(len)?;
        let data = &mut buf[..len];
        let res = fill(data);
        if res.is_ok() {
            self.send(&[head, data]);
        }
        give_back_read_buffer(buf);
        res
    }
}

/// Send a request's error reply: with structured replies, an error chunk
/// carrying `msg` for the client to show.
fn error_reply(sink: &dyn ReplySink, r: &Request, caps: &ExportCaps, error: u32, msg: &str) {
    // nbdkit's error chunks carry no message: ours only when asked.
    let msg = if caps.error_messages { msg } else { "" };
    let mut out = Vec::with_capacity(48 + msg.len().min(MAX_ERROR_MESSAGE));
    Reply::to(r, caps).error(&mut out, error, msg);
    sink.send(&[&out]);
}

/// nbdkit's line for a request answered with an error: the errno before
/// it is mapped to the protocol's few (NBD errors are Linux's numbers).
pub fn log_error_reply(errno: i32) {
    log::debug!(
        "sending error reply: {}",
        crate::sys::strerror(&std::io::Error::from_raw_os_error(errno))
    );
}

/// Run one validated request and send its reply.  FUA goes down with the
/// request: the plugin layer turns it into a flush when it cannot do it
/// natively (as nbdkit's does).
pub fn execute(s: &Session, v: &Valid, payload: &[u8], sink: &dyn ReplySink) {
    let h = &s.ctx;
    let r = &v.req;
    let caps = &s.caps;
    let fua = |fua: bool| if fua { Flags::FUA } else { 0 };
    // 64-bit effect lengths (extended headers) go to the backend as they
    // are; the C adapter splits them for 32-bit plugin callbacks.
    let (off, count) = (r.offset, r.count);
    let result = match v.cmd {
        Command::Read { df } => match read(s, r, df, sink) {
            Ok(()) => return,
            Err(e) => Err(e),
        },
        Command::Write { fua: f } => h.pwrite(payload, off, Flags(fua(f))),
        Command::Flush => h.flush(Flags::NONE),
        Command::Trim { fua: f } => h.trim(count, off, Flags(fua(f))),
        Command::Zero {
            fua: f,
            may_trim,
            fast,
        } => {
            let mut f = fua(f);
            if may_trim {
                f |= Flags::MAY_TRIM;
            }
            if fast {
                f |= Flags::FAST_ZERO;
            }
            h.zero(count, off, Flags(f))
        }
        Command::Cache => h.cache(count, off, Flags::NONE),
        Command::BlockStatus { req_one } => match block_status(s, r, req_one) {
            Ok((descs, _held)) => {
                let mut out = Vec::new();
                match out.try_reserve_exact(reply_size(descs.len())) {
                    Ok(()) => {
                        Reply::to(r, caps).block_status(&mut out, BASE_ALLOCATION_ID, &descs);
                        sink.send(&[&out]);
                        return;
                    }
                    Err(_) => Err(Error::new(libc::ENOMEM, "block status: out of memory")),
                }
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => sink.send(&[&Reply::to(r, caps).ok()]),
        Err(e) => {
            if let Some(t) = e.unreported() {
                log::error!("{}: {t}", command_name(r.cmd));
            }
            log_error_reply(e.errno);
            let fast = matches!(v.cmd, Command::Zero { fast: true, .. });
            let err = tx::nbd_error(e.errno, caps.structured, fast);
            error_reply(sink, r, caps, err, e.client_message());
        }
    }
}

/// Reads at least this large are sent from the backend's own memory when
/// it offers that; smaller ones are cheaper to copy.
const SHARED_READ_MIN: u64 = 64 * 1024;

/// Read and send the reply: holes as hole chunks when that is worth it
/// (see [`sparse`]), else the data, from the backend's own memory when it
/// offers that for a large read, else copied into this thread's buffer.
/// Err if the backend failed (nothing sent).
fn read(s: &Session, r: &Request, df: bool, sink: &dyn ReplySink) -> Result<(), Error> {
    let h = &s.ctx;
    let reply = Reply::to(r, &s.caps);
    if let Some(map) = sparse_zero_runs(s, r, df)? {
        return send_sparse(s, r, &reply, &map, sink);
    }
    // Reads are at most 64 MiB (validated), so the count fits.
    let shared = if r.count >= SHARED_READ_MIN {
        h.read_shared(r.count as u32, r.offset)
    } else {
        None
    };
    let Some(pieces) = shared else {
        // Two clock reads per request are worth it only to a policy that
        // uses them.
        if !s.sparse.times_reads(r.count) {
            return read_copy(h, r, &reply, sink);
        }
        let t = std::time::Instant::now();
        let res = read_copy(h, r, &reply, sink);
        s.sparse.record_read(r.count, t.elapsed());
        return res;
    };
    let pieces = pieces?;
    let head = reply.read_ok(r.count);
    let mut parts = Vec::with_capacity(pieces.len() + 1);
    parts.push(&*head);
    parts.extend(piece_slices(&pieces));
    sink.send(&parts);
    Ok(())
}

fn read_copy(h: &Context, r: &Request, reply: &Reply, sink: &dyn ReplySink) -> Result<(), Error> {
    let head = reply.read_ok(r.count);
    sink.send_filled(&head, r.count as usize, &mut |data| {
        h.pread(data, r.offset, Flags::NONE)
    })
}

/// Most descriptors sent in one block-status reply (8 bytes each, so at
/// most 8 MiB): the list itself is capped at the same number.
const MAX_DESCRIPTORS: usize = crate::backend::extents::MAX_EXTENTS;

thread_local! {
    /// Each thread keeps its read buffer: a fresh allocation per read costs
    /// page faults for large requests, and zeroing it costs as much as the
    /// plugin's own copy.
    static READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest buffer a thread keeps between reads.
const KEEP_READ_BUFFER: usize = 4 * 1024 * 1024;

/// A buffer of at least `len` bytes for a read.  Only the part never used
/// before is zeroed: like nbdkit's per-thread buffer, what a plugin leaves
/// unwritten holds this thread's earlier reads.  (A plugin's `pread` must
/// fill the whole buffer; nbdkit-plugin(3).)
pub fn take_read_buffer(len: usize) -> Result<Vec<u8>, Error> {
    let mut buf = READ_BUFFER.with(|b| b.take());
    if buf.len() < len {
        if buf.try_reserve_exact(len - buf.len()).is_err() {
            READ_BUFFER.with(|b| b.set(buf));
            return Err(Error::new(
                libc::ENOMEM,
                format!("read: cannot allocate {len} bytes"),
            ));
        }
        buf.resize(len, 0);
    }
    Ok(buf)
}

pub fn give_back_read_buffer(buf: Vec<u8>) {
    if buf.len() <= KEEP_READ_BUFFER {
        READ_BUFFER.with(|b| b.set(buf));
    }
}

/// Block status descriptors for `base:allocation`.
///
/// As nbdkit does, the plugin may describe the disk from the requested
/// offset up to the end of the export: the descriptors start exactly at
/// the offset and stop with the first one that runs past the end of the
/// request (the protocol allows that for the last descriptor; like nbdkit
/// 1.32, one ending exactly at the end is followed by one more) unless the
/// client set REQ_ONE, when there is exactly one, clipped to the request.
/// Lengths are 64-bit; with compact headers (32-bit descriptor lengths) an
/// extent longer than that is cut to the largest length that still
/// respects the advertised minimum block size, and the reply ends there.
///
/// The memory the list, the descriptors and the reply take is held against
/// the budget until the reply is sent (ENOMEM if it cannot be had).
fn block_status(s: &Session, r: &Request, req_one: bool) -> Result<(Vec<(u64, u32)>, Held), Error> {
    let off = r.offset;
    let count = r.count;
    let req_end = off
        .checked_add(count)
        .filter(|e| *e <= s.caps.size)
        .ok_or_else(|| Error::einval("block status: request beyond the end of the export"))?;
    let mut ex = Extents::new(off, s.caps.size.max(req_end))?;
    let flags = if req_one {
        Flags(Flags::REQ_ONE)
    } else {
        Flags::NONE
    };
    s.ctx.extents(count, off, flags, &mut ex)?;
    let list = ex.as_slice();
    match list.first() {
        None => return Err(Error::einval("plugin must return at least one extent")),
        // The list enforces this; a broken list must not reach the wire.
        Some(e) if e.offset != ex.start() => {
            return Err(Error::eio(format!(
                "extents: first extent starts at {} instead of {off}",
                e.offset
            )))
        }
        Some(_) => {}
    }
    let longest = if s.caps.extended {
        u64::MAX
    } else {
        let align = s
            .caps
            .block_size
            .map_or(1, |(min, _)| u64::from(min.max(1)));
        u64::from(u32::MAX) / align * align
    };
    // The plugin's list is already made: what it holds counts from here,
    // with what the descriptors and the reply will take.
    let n = list.len().min(MAX_DESCRIPTORS);
    let bytes = std::mem::size_of_val(list) + n * std::mem::size_of::<(u64, u32)>() + reply_size(n);
    let held = memory::hold(bytes as u64, "block status")?;
    let mut descs = Vec::new();
    if descs.try_reserve_exact(n).is_err() {
        return Err(Error::new(libc::ENOMEM, "block status: out of memory"));
    }
    let mut pos = off;
    for e in list {
        debug_assert_eq!(e.offset, pos);
        let mut len = e.length;
        if req_one {
            len = len.min(req_end - pos);
        }
        let cut = len > longest;
        len = len.min(longest);
        descs.push((len, e.kind & (EXTENT_HOLE | EXTENT_ZERO)));
        pos += len;
        if req_one || cut || pos > req_end || descs.len() >= MAX_DESCRIPTORS {
            break;
        }
    }
    Ok((descs, held))
}

/// Bytes of a block-status reply with `n` descriptors (the largest form:
/// extended headers, 64-bit descriptors).
fn reply_size(n: usize) -> usize {
    48 + n * 16
}

/// The zero/data map for this read, if it should be answered sparsely
/// (see [`sparse`]).
/// An extents failure is not the read's: it is answered with data.  `df`:
/// the client asked for the data in one chunk.
fn sparse_zero_runs(s: &Session, r: &Request, df: bool) -> Result<Option<Vec<Segment>>, Error> {
    let policy = &s.sparse;
    if !policy.enabled
        || s.caps.reply_mode() == ReplyMode::Simple
        || df
        || r.count < sparse::SPARSE_READ_MIN
        || !s.ctx.can_extents()?
        || !policy.should_probe(r.count)
    {
        return Ok(None);
    }
    let Ok(mut ex) = Extents::new(r.offset, r.offset + r.count) else {
        return Ok(None);
    };
    let t = std::time::Instant::now();
    let listed = s.ctx.extents(r.count, r.offset, Flags::NONE, &mut ex);
    let map = match listed {
        Ok(()) => sparse::plan(r.offset, r.count, &ex),
        Err(e) => {
            log::debug!("read: extents failed ({e}), sending data");
            None
        }
    };
    policy.record_extents(t.elapsed(), map.is_some());
    Ok(map)
}

/// Read the data segments and send the whole reply: one chunk per
/// segment, in order, the last one final.  Nothing is sent if a read
/// fails.
fn send_sparse(
    s: &Session,
    r: &Request,
    reply: &Reply,
    segs: &[Segment],
    sink: &dyn ReplySink,
) -> Result<(), Error> {
    let h = &s.ctx;
    let mut buf = take_read_buffer(r.count as usize)?;
    let rel = |seg: &Segment| {
        (seg.offset - r.offset) as usize..(seg.offset - r.offset + seg.len) as usize
    };
    for seg in segs.iter().filter(|g| !g.zero) {
        let t = std::time::Instant::now();
        if let Err(e) = h.pread(&mut buf[rel(seg)], seg.offset, Flags::NONE) {
            give_back_read_buffer(buf);
            return Err(e);
        }
        s.sparse.record_read(seg.len, t.elapsed());
    }
    let mut heads = Vec::with_capacity(segs.len() * 44);
    let mut spans = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        let done = i + 1 == segs.len();
        let start = heads.len();
        if seg.zero {
            // A read is at most 64 MiB, so a hole fits its 32-bit length.
            heads.extend_from_slice(&reply.hole(seg.offset, seg.len as u32, done));
        } else {
            heads.extend_from_slice(&reply.data(seg.offset, seg.len, done));
        }
        spans.push(start..heads.len());
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(segs.len() * 2);
    for (seg, span) in segs.iter().zip(&spans) {
        parts.push(&heads[span.clone()]);
        if !seg.zero {
            parts.push(&buf[rel(seg)]);
        }
    }
    sink.send(&parts);
    drop(parts);
    give_back_read_buffer(buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Handle, Result as BResult};
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    /// A small disk that records the calls it gets.
    struct Disk {
        data: Mutex<Vec<u8>>,
        calls: Mutex<Vec<&'static str>>,
    }

    impl Handle for Disk {
        fn get_size(&self) -> BResult<u64> {
            Ok(self.data.lock().unwrap().len() as u64)
        }
        fn can_write(&self) -> BResult<bool> {
            Ok(true)
        }
        fn can_flush(&self) -> BResult<bool> {
            Ok(true)
        }
        fn pread(&self, buf: &mut [u8], offset: u64, _: Flags) -> BResult<()> {
            self.calls.lock().unwrap().push("pread");
            let o = offset as usize;
            buf.copy_from_slice(&self.data.lock().unwrap()[o..o + buf.len()]);
            Ok(())
        }
        fn pwrite(&self, buf: &[u8], offset: u64, _: Flags) -> BResult<()> {
            self.calls.lock().unwrap().push("pwrite");
            let o = offset as usize;
            self.data.lock().unwrap()[o..o + buf.len()].copy_from_slice(buf);
            Ok(())
        }
        fn flush(&self, _: Flags) -> BResult<()> {
            self.calls.lock().unwrap().push("flush");
            Err(Error::new(libc::EIO, "flush failed".to_string()))
        }
    }

    struct Capture(RefCell<Vec<Vec<u8>>>);
    impl ReplySink for Capture {
        fn send(&self, parts: &[&[u8]]) {
            self.0.borrow_mut().push(parts.concat());
        }
    }

    fn session() -> Session {
        let disk = Disk {
            data: Mutex::new(vec![0; 64 * 1024]),
            calls: Mutex::new(Vec::new()),
        };
        let ctx = Context::new(Arc::from("test"), Box::new(disk), false);
        let caps = ExportCaps {
            size: 64 * 1024,
            can_flush: true,
            ..Default::default()
        };
        Session::for_test(ctx, caps, false)
    }

    fn req(cmd: u16, handle: u64, offset: u64, count: u64) -> Request {
        Request {
            flags: 0,
            cmd,
            handle,
            offset,
            count,
            extended: false,
        }
    }

    fn valid(s: &Session, cmd: u16, handle: u64, offset: u64, count: u64) -> Valid {
        tx::validate(&req(cmd, handle, offset, count), &s.caps).unwrap()
    }

    /// A simple reply: (error, handle, data).
    fn simple(b: &[u8]) -> (u32, u64, &[u8]) {
        assert_eq!(
            u32::from_be_bytes(b[0..4].try_into().unwrap()),
            NBD_SIMPLE_REPLY_MAGIC
        );
        (
            u32::from_be_bytes(b[4..8].try_into().unwrap()),
            u64::from_be_bytes(b[8..16].try_into().unwrap()),
            &b[16..],
        )
    }

    #[test]
    fn a_write_then_a_read_each_get_one_reply_with_their_handle() {
        let s = session();
        let sink = Capture(RefCell::new(Vec::new()));
        execute(
            &s,
            &valid(&s, NBD_CMD_WRITE, 7, 4096, 512),
            &[0xab; 512],
            &sink,
        );
        execute(&s, &valid(&s, NBD_CMD_READ, 8, 4096, 512), &[], &sink);
        let replies = sink.0.borrow();
        assert_eq!(replies.len(), 2, "one send per reply");
        assert_eq!(simple(&replies[0]), (0, 7, &[][..]));
        let (err, handle, data) = simple(&replies[1]);
        assert_eq!((err, handle), (0, 8));
        assert_eq!(data, &[0xab; 512][..]);
    }

    #[test]
    fn a_failed_call_is_answered_with_its_errno() {
        let s = session();
        let sink = Capture(RefCell::new(Vec::new()));
        execute(&s, &valid(&s, NBD_CMD_FLUSH, 9, 0, 0), &[], &sink);
        let replies = sink.0.borrow();
        assert_eq!(replies.len(), 1);
        let (err, handle, data) = simple(&replies[0]);
        assert_eq!((err, handle, data.len()), (NBD_EIO, 9, 0));
    }
}
