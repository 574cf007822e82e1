//! The memory budget: bytes held for requests and replies in flight.
//!
//! A READ or WRITE holds its data from the moment its header is read until
//! its reply has left for the socket: a write's payload buffer, a read's
//! buffer and, if the client does not take the reply at once, the queued
//! copy of it (the outbox's backlog).  C nbdkit bounds this by its thread
//! count; we count it.
//!
//! - Server-wide, requests may hold at most `limit` bytes (`--memory-limit`;
//!   by default a quarter of the machine's memory or address-space limit).
//! - One connection may pipeline requests up to `share` of it; past that it
//!   is not read from until its replies drain (backpressure).  A connection
//!   with nothing in flight may always ask for one request, so a share
//!   smaller than the largest request never blocks a client for good.
//! - Each connection may always hold [`FREE_TIER`] bytes outside the
//!   server-wide limit, so that clients holding the whole budget (and not
//!   reading their replies, or not sending the payloads they announced)
//!   cannot starve a well-behaved client with small requests.  The bound on
//!   request memory is therefore `limit + connections * FREE_TIER`.
//! - A request that finds the budget spent while its connection has nothing
//!   else in flight (so waiting could be forever) is answered `ENOMEM`, as
//!   nbdkit answers when it cannot allocate a request's buffer.
//!
//! - What a request takes beyond its data while it runs (a cache emulated
//!   by reading, block-status descriptors and replies) is taken from the
//!   server-wide limit by the worker running it (`backend::request_memory`, this
//!   budget being its gate), never waiting: ENOMEM when the limit is
//!   reached.
//!
//! Only the loop adds per-connection charges.  The server-wide count is
//! added to by the loop and by workers (the gate), each with a
//! compare-and-swap that keeps it within the limit; the outbox only moves
//! memory from a charge to the backlog and gives it back.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes each connection may hold outside the server-wide limit.
pub const FREE_TIER: u64 = 1 << 20;

/// Smallest `--memory-limit` taken: one largest request (64 MiB) plus its
/// reply header.
pub const MIN_LIMIT: u64 = 64 << 20;

/// A connection's share of the limit is this fraction of it...
const SHARE_DIVISOR: u64 = 8;
/// ...but at least this much (two 32 MiB requests pipelined).
const MIN_SHARE: u64 = 64 << 20;

pub struct Budget {
    limit: u64,
    share: u64,
    /// Charged beyond the free tiers, plus every outbox's backlog.
    used: AtomicU64,
}

/// Per-connection counts (in the connection's shared state).
#[derive(Default)]
pub struct ConnMemory {
    /// Charged to requests in flight (free tier and shared).
    charged: AtomicU64,
}

/// Memory granted to one request; give it back with [`Budget::release`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Charge {
    bytes: u64,
    /// Part of `bytes` counted against the server-wide limit.
    global: u64,
}

impl Charge {
    /// One grant holding both.
    pub fn merge(self, other: Charge) -> Charge {
        Charge {
            bytes: self.bytes + other.bytes,
            global: self.global + other.global,
        }
    }
}

/// The answer to a request for memory.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Granted(Charge),
    /// Over the connection's share or the limit with replies still to come:
    /// read nothing more from it until some drain.
    Wait,
    /// The budget is spent and this connection holds nothing that will come
    /// back: answer ENOMEM.
    NoMemory,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        let limit = limit.max(MIN_LIMIT);
        Budget {
            limit,
            share: (limit / SHARE_DIVISOR).max(MIN_SHARE).min(limit),
            used: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn share(&self) -> u64 {
        self.share
    }

    /// Bytes held beyond the connections' free tiers.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Ask for `cost` bytes for a request on a connection that now holds
    /// `conn` (its charges) and has `backlog` reply bytes queued.
    pub fn admit(&self, conn: &ConnMemory, backlog: u64, cost: u64) -> Admit {
        let charged = conn.charged.load(Ordering::SeqCst);
        let own = charged + backlog;
        if cost == 0 {
            return Admit::Granted(Charge::default());
        }
        // The free tier covers requests (not backlog, counted globally).
        if own.saturating_add(cost) <= FREE_TIER {
            conn.charged.fetch_add(cost, Ordering::SeqCst);
            return Admit::Granted(Charge {
                bytes: cost,
                global: 0,
            });
        }
        if own > 0 && own.saturating_add(cost) > self.share {
            return Admit::Wait;
        }
        if self.try_take(cost) {
            conn.charged.fetch_add(cost, Ordering::SeqCst);
            return Admit::Granted(Charge {
                bytes: cost,
                global: cost,
            });
        }
        if own > 0 {
            Admit::Wait
        } else {
            Admit::NoMemory
        }
    }

    /// Add `n` to the server-wide count if that stays within the limit.
    fn try_take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    pub fn release(&self, conn: &ConnMemory, c: Charge) {
        if c.bytes == 0 {
            return;
        }
        conn.charged.fetch_sub(c.bytes, Ordering::SeqCst);
        self.used.fetch_sub(c.global, Ordering::SeqCst);
    }

    /// Reply bytes queued (`grow`) or sent/dropped from an outbox.
    pub fn backlog_added(&self, n: usize) {
        self.used.fetch_add(n as u64, Ordering::SeqCst);
    }

    pub fn backlog_removed(&self, n: usize) {
        self.used.fetch_sub(n as u64, Ordering::SeqCst);
    }
}

/// What requests take while they run, from the server-wide limit.
impl crate::backend::request_memory::Gate for Budget {
    fn take(&self, bytes: u64) -> bool {
        self.try_take(bytes)
    }
    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }
}

impl ConnMemory {
    /// Bytes charged to this connection's requests in flight.
    pub fn charged(&self) -> u64 {
        self.charged.load(Ordering::SeqCst)
    }
}

/// The default limit: a quarter of the smaller of physical memory and the
/// address-space limit (`ulimit -v`), at least [`MIN_LIMIT`].
pub fn default_limit() -> u64 {
    let ram = crate::sys::physical_memory().unwrap_or(4 << 30);
    let cap = match crate::sys::address_space_limit() {
        Some(a) => ram.min(a),
        None => ram,
    };
    (cap / 4).max(MIN_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;

    #[test]
    fn small_requests_use_the_free_tier() {
        let b = Budget::new(MIN_LIMIT);
        let c = ConnMemory::default();
        let g = b.admit(&c, 0, 64 * 1024);
        assert!(matches!(g, Admit::Granted(Charge { global: 0, .. })));
        assert_eq!(b.used(), 0);
        if let Admit::Granted(ch) = g {
            b.release(&c, ch);
        }
        assert_eq!(c.charged(), 0);
    }

    #[test]
    fn share_then_wait_then_nomem() {
        let b = Budget::new(256 * M); // share 64 MiB
        assert_eq!(b.share(), 64 * M);
        let c1 = ConnMemory::default();
        let mut held = vec![];
        // A connection pipelines up to its share, then waits.
        for _ in 0..2 {
            match b.admit(&c1, 0, 32 * M) {
                Admit::Granted(ch) => held.push(ch),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(b.admit(&c1, 0, 32 * M), Admit::Wait);
        // Others fill the rest of the limit.
        let others: Vec<ConnMemory> = (0..10).map(|_| ConnMemory::default()).collect();
        let mut granted = 0;
        let mut nomem = 0;
        for c in &others {
            match b.admit(c, 0, 32 * M) {
                Admit::Granted(_) => granted += 1,
                Admit::NoMemory => nomem += 1,
                Admit::Wait => panic!("an idle connection never waits"),
            }
        }
        assert!(b.used() <= b.limit());
        assert_eq!(granted, 6);
        assert_eq!(nomem, 4);
        // Still, small requests of an idle connection go through.
        let fresh = ConnMemory::default();
        assert!(matches!(b.admit(&fresh, 0, 4096), Admit::Granted(_)));
        // Giving memory back lets the waiting connection go on.
        b.release(&c1, held.pop().unwrap());
        assert!(matches!(b.admit(&c1, 0, 32 * M), Admit::Granted(_)));
    }

    #[test]
    fn running_requests_take_from_the_limit_without_waiting() {
        use crate::backend::request_memory::Gate;
        let b = Budget::new(MIN_LIMIT);
        assert!(b.take(48 * M));
        assert!(!b.take(32 * M), "over the limit");
        // Loop admissions see it: an idle connection is refused.
        assert_eq!(b.admit(&ConnMemory::default(), 0, 32 * M), Admit::NoMemory);
        b.give(48 * M);
        assert_eq!(b.used(), 0);
        assert!(b.take(MIN_LIMIT));
    }

    #[test]
    fn backlog_counts() {
        let b = Budget::new(MIN_LIMIT);
        let c = ConnMemory::default();
        b.backlog_added(MIN_LIMIT as usize);
        assert_eq!(b.admit(&c, MIN_LIMIT, 2 * M), Admit::Wait);
        b.backlog_removed(MIN_LIMIT as usize);
        assert!(matches!(b.admit(&c, 0, 2 * M), Admit::Granted(_)));
    }
}
