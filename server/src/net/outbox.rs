//! Sending replies on a connection from any thread.
//!
//! A reply is written whole, in one vectored write when the socket takes
//! it, so replies from concurrent workers never interleave.  What the
//! socket does not take now is queued and flushed by the event loop when
//! the socket becomes writable; later replies queue behind it to keep each
//! reply contiguous.

use super::stream::Stream;
use super::transport::Transport;
use crate::budget::Budget;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Queue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already sent.
    sent: usize,
}

/// Told, under the queue's lock, when the queue turns non-empty (true) and
/// empty again (false): the owner then asks for writable events only while
/// there is something to flush, rather than being woken every time the
/// client drains the socket.
pub type BacklogHook = Box<dyn Fn(bool) + Send + Sync>;

/// The loop must never wait on this lock (a worker may hold it while it
/// waits for a slow reader), so what the loop needs to know without it,
/// the backlog and whether the peer is gone, is mirrored in atomics.
#[derive(Default)]
pub struct Outbox {
    q: Mutex<Queue>,
    backlog: AtomicUsize,
    broken: AtomicBool,
    hook: Option<BacklogHook>,
    /// The server's memory budget, which counts every queued byte.
    budget: Option<Arc<Budget>>,
}

std::thread_local! {
    /// Set on the event loop's thread, which must never block on a socket.
    static ON_LOOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the current thread as the event loop, or no longer (it handed
/// the loop on, see `relay`).
pub fn set_loop_thread(on: bool) {
    ON_LOOP.with(|l| l.set(on));
}

/// Whether the current thread is the event loop.
pub fn on_loop() -> bool {
    ON_LOOP.with(|l| l.get())
}

/// How long a worker waits for a slow reader before queueing the rest of a
/// reply for the loop instead.
const WORKER_WAIT_MS: i32 = 200;

/// Writes as much of `parts` as the socket takes now; returns the count.
/// A worker thread waits for the socket rather than copying a large reply
/// into the queue, as a blocking server would.
/// Parts of a write whose slices `write_now` keeps on the stack.
const STACK_PARTS: usize = 8;

fn write_now(
    stream: &Stream,
    parts: &[&[u8]],
    mut skip: usize,
    may_wait: bool,
) -> io::Result<usize> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = skip;
    // A reply has a few parts: their slices on the stack, not the heap.
    let mut on_stack = [IoSlice::new(&[]); STACK_PARTS];
    let mut on_heap = Vec::new();
    while done < total {
        let mut n = 0;
        on_heap.clear();
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            let slice = IoSlice::new(&p[skip..]);
            skip = 0;
            if parts.len() <= STACK_PARTS {
                on_stack[n] = slice;
                n += 1;
            } else {
                on_heap.push(slice);
            }
        }
        let slices = if parts.len() <= STACK_PARTS {
            &on_stack[..n]
        } else {
            &on_heap[..]
        };
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                done += n;
                skip = done;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => skip = done,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                skip = done;
                if !(may_wait && crate::sys::wait_writable(stream.out_fd(), WORKER_WAIT_MS)?) {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl Outbox {
    pub fn with_hook(hook: BacklogHook, budget: Arc<Budget>) -> Outbox {
        Outbox {
            q: Mutex::default(),
            backlog: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            hook: Some(hook),
            budget: Some(budget),
        }
    }

    fn grow(&self, n: usize) {
        self.backlog.fetch_add(n, Ordering::SeqCst);
        if let Some(b) = &self.budget {
            b.backlog_added(n);
        }
    }

    fn shrink(&self, n: usize) {
        self.backlog.fetch_sub(n, Ordering::SeqCst);
        if let Some(b) = &self.budget {
            b.backlog_removed(n);
        }
    }

    fn tell(&self, queued: bool) {
        if let Some(h) = &self.hook {
            h(queued);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The peer is gone: nothing queued can ever be delivered.
    fn break_off(&self, q: &mut Queue) {
        self.broken.store(true, Ordering::SeqCst);
        q.chunks.clear();
        q.chunks.shrink_to_fit();
        q.sent = 0;
        self.shrink(self.backlog());
    }

    /// Send one reply made of `parts` (encrypted first if the transport
    /// uses TLS).  Returns an error only when the connection is broken (the
    /// reply is then dropped).
    pub fn send(&self, t: &Transport, parts: &[&[u8]]) -> io::Result<()> {
        let q = self.lock();
        if self.is_broken() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // Sealed under the queue's lock: TLS records must reach the socket
        // in the order they were made.
        match t.seal(parts) {
            Ok(None) => self.send_locked(q, &t.stream, parts),
            Ok(Some(sealed)) => self.send_locked(q, &t.stream, &[&sealed]),
            Err(e) => {
                let mut q = q;
                log::error!("{e}");
                self.break_off(&mut q);
                Err(e)
            }
        }
    }

    /// Send bytes as they are, bypassing TLS: the TLS handshake's own
    /// records and the close_notify.
    pub fn send_raw(&self, stream: &Stream, bytes: &[u8]) -> io::Result<()> {
        let q = self.lock();
        if self.is_broken() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.send_locked(q, stream, &[bytes])
    }

    fn send_locked(
        &self,
        mut q: MutexGuard<'_, Queue>,
        stream: &Stream,
        parts: &[&[u8]],
    ) -> io::Result<()> {
        let worker = !on_loop();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let done = if q.chunks.is_empty() {
            match write_now(stream, parts, 0, worker) {
                Ok(n) => n,
                Err(e) => {
                    self.break_off(&mut q);
                    return Err(e);
                }
            }
        } else {
            0
        };
        if done == total {
            return Ok(());
        }
        let mut rest = Vec::new();
        if rest.try_reserve_exact(total - done).is_err() {
            // The reply cannot be kept: the client will never see it, so
            // the connection cannot go on.
            log::error!("queueing a reply of {} bytes: out of memory", total - done);
            self.break_off(&mut q);
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut skip = done;
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            rest.extend_from_slice(&p[skip..]);
            skip = 0;
        }
        self.grow(rest.len());
        if q.chunks.is_empty() {
            self.tell(true);
        }
        q.chunks.push_back(rest);
        drop(q);
        if worker {
            // The socket's writable edge may have come while we held the
            // lock and the loop could not take it: try once more now.
            let _ = self.flush(stream);
        }
        Ok(())
    }

    /// Write what is queued, without waiting for the socket.  On the loop
    /// thread this gives up at once if a worker holds the queue (that
    /// worker flushes after it lets go).
    pub fn flush(&self, stream: &Stream) -> io::Result<()> {
        let mut q = if on_loop() {
            match self.q.try_lock() {
                Ok(q) => q,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
            }
        } else {
            self.lock()
        };
        while let Some(front) = q.chunks.front() {
            let sent = q.sent;
            match write_now(stream, &[front], sent, false) {
                Ok(n) if n == front.len() => {
                    let len = front.len();
                    q.chunks.pop_front();
                    q.sent = 0;
                    self.shrink(len - sent);
                    if q.chunks.is_empty() {
                        // Let a large queue's memory go.
                        q.chunks.shrink_to_fit();
                        self.tell(false);
                    }
                }
                Ok(n) => {
                    q.sent = n;
                    self.shrink(n - sent);
                    return Ok(());
                }
                Err(e) => {
                    self.break_off(&mut q);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Bytes waiting for the socket: the loop stops reading requests from a
    /// client that does not read its replies.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::SeqCst)
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // What a closed connection never sent goes back to the budget.
        self.shrink(self.backlog());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_n(peer: &mut std::os::unix::net::UnixStream, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        peer.read_exact(&mut v).unwrap();
        v
    }

    #[test]
    fn a_reply_goes_out_whole_and_in_order() {
        let (t, mut peer) = super::super::testing::transport();
        let o = Outbox::default();
        o.send(&t, &[b"head", b"-body"]).unwrap();
        o.send(&t, &[b"second"]).unwrap();
        assert_eq!(o.backlog(), 0);
        assert_eq!(read_n(&mut peer, 15), b"head-bodysecond");
    }

    #[test]
    fn on_the_loop_what_the_socket_does_not_take_is_queued_then_flushed() {
        set_loop_thread(true);
        let (t, mut peer) = super::super::testing::transport();
        let o = Outbox::default();
        // More than any socket buffer takes at once.
        let big: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        o.send(&t, &[&big]).unwrap();
        assert!(o.backlog() > 0, "the loop never waits for the socket");
        o.send(&t, &[b"tail"]).unwrap();
        let mut got = Vec::new();
        while got.len() < big.len() + 4 {
            let mut buf = vec![0; 1 << 16];
            let n = peer.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            o.flush(&t.stream).unwrap();
        }
        assert_eq!(o.backlog(), 0);
        assert_eq!(&got[..big.len()], &big[..]);
        assert_eq!(&got[big.len()..], b"tail");
    }

    #[test]
    fn a_peer_that_left_breaks_the_outbox() {
        let (t, peer) = super::super::testing::transport();
        drop(peer);
        let o = Outbox::default();
        assert!(o.send(&t, &[b"nobody"]).is_err());
        assert!(o.is_broken());
        assert!(o.send(&t, &[b"again"]).is_err());
        assert_eq!(o.backlog(), 0);
    }
}
