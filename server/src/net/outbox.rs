//! Sending replies on a connection from any thread.
//!
//! A reply is written whole, in one vectored write when the socket takes
//! it, so replies from concurrent workers never interleave.  What the
//! socket does not take now is queued and flushed by the event loop when
//! the socket becomes writable; later replies queue behind it to keep each
//! reply contiguous.

use super::stream::Stream;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Mutex;

#[derive(Default)]
struct Queue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already sent.
    sent: usize,
    bytes: usize,
    broken: bool,
}

impl Queue {
    /// The peer is gone: nothing queued can ever be delivered.
    fn break_off(&mut self) {
        self.broken = true;
        self.chunks.clear();
        self.sent = 0;
        self.bytes = 0;
    }
}

#[derive(Default)]
pub struct Outbox {
    q: Mutex<Queue>,
}

std::thread_local! {
    /// Set on the event loop's thread, which must never block on a socket.
    static ON_LOOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the current thread as the event loop.
pub fn mark_loop_thread() {
    ON_LOOP.with(|l| l.set(true));
}

/// How long a worker waits for a slow reader before queueing the rest of a
/// reply for the loop instead.
const WORKER_WAIT_MS: i32 = 200;

/// Writes as much of `parts` as the socket takes now; returns the count.
/// A worker thread waits for the socket rather than copying a large reply
/// into the queue, as a blocking server would.
fn write_now(stream: &Stream, parts: &[&[u8]], mut skip: usize) -> io::Result<usize> {
    let may_wait = !ON_LOOP.with(|l| l.get());
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = skip;
    while done < total {
        let mut slices = Vec::with_capacity(parts.len());
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            slices.push(IoSlice::new(&p[skip..]));
            skip = 0;
        }
        match stream.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                done += n;
                skip = done;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => skip = done,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                skip = done;
                if !(may_wait && crate::abi::os::wait_writable(stream.raw_fd(), WORKER_WAIT_MS)?) {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl Outbox {
    /// Send one reply made of `parts`.  Returns an error only when the
    /// connection is broken (the reply is then dropped).
    pub fn send(&self, stream: &Stream, parts: &[&[u8]]) -> io::Result<()> {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        if q.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let done = if q.chunks.is_empty() {
            match write_now(stream, parts, 0) {
                Ok(n) => n,
                Err(e) => {
                    q.break_off();
                    return Err(e);
                }
            }
        } else {
            0
        };
        if done < total {
            let mut rest = Vec::with_capacity(total - done);
            let mut skip = done;
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                rest.extend_from_slice(&p[skip..]);
                skip = 0;
            }
            q.bytes += rest.len();
            q.chunks.push_back(rest);
        }
        Ok(())
    }

    /// Called by the loop when the socket is writable.
    pub fn flush(&self, stream: &Stream) -> io::Result<()> {
        let mut q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(front) = q.chunks.front() {
            let sent = q.sent;
            match write_now(stream, &[front], sent) {
                Ok(n) if n == front.len() => {
                    let len = front.len();
                    q.chunks.pop_front();
                    q.sent = 0;
                    q.bytes -= len;
                }
                Ok(n) => {
                    q.sent = n;
                    return Ok(());
                }
                Err(e) => {
                    q.break_off();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Bytes waiting for the socket: the loop stops reading requests from a
    /// client that does not read its replies.
    pub fn backlog(&self) -> usize {
        let q = self.q.lock().unwrap_or_else(|p| p.into_inner());
        q.bytes - q.sent
    }

    pub fn is_broken(&self) -> bool {
        self.q.lock().unwrap_or_else(|p| p.into_inner()).broken
    }
}
