//! The request side of a connection in transmission, without I/O: the
//! bytes the client sent so far in, the next thing to do out ([`next`]).
//! A header is parsed and checked as nbdkit checks it, in its order: the
//! magic as soon as four bytes are in (a client out of sync is dropped
//! without waiting for a whole header), then the header, `NBD_CMD_DISC`,
//! whether the server still serves ([`Serving`]), then the request
//! against the export ([`validate`]).
//!
//! A write's payload is then counted in as it arrives ([`Payload`]):
//! kept in the request's own buffer, or read and dropped when the request
//! is refused.  A request refused before it reaches the backend (invalid,
//! or no memory for it: [`Refusal`]) gets its error reply and log line
//! from here.  Admitting a request's data to the memory budget, reading
//! the socket, running the request and sending the reply are the
//! connection's.

use super::consts::*;
use super::negotiate::Said;
use super::transmission::{validate, ExportCaps, Invalid, Reply, Request, Valid};
use super::ProtocolError;

/// Whether the server still serves this client's requests; checked after
/// the header is in, before the request itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Serving {
    #[default]
    Yes,
    /// The server is shutting down: requests get ESHUTDOWN until the
    /// client hangs up.
    ShuttingDown,
    /// A plugin called `nbdkit_disconnect` for this client.
    Disconnecting,
}

/// What the connection does next with the bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// No whole header yet (or nothing at all): read more.
    NeedBytes,
    /// The stream cannot be trusted any more: log this and close.
    Broken(ProtocolError),
    /// `NBD_CMD_DISC`: take its header and close.
    Disconnect { header_len: usize },
    /// A request whose header is the first `header_len` bytes: run it
    /// (`Ok`) or refuse it (`Err`), after its payload (`req.payload_len()`
    /// bytes, kept or dropped) is in.
    Request {
        req: Request,
        header_len: usize,
        verdict: Result<Valid, Invalid>,
    },
}

/// The next step for `input`, the unread bytes, on an export with `caps`.
pub fn next(input: &[u8], caps: &ExportCaps, serving: Serving) -> Next {
    let header_len = Request::header_len(caps.extended);
    if input.len() >= 4 {
        if let Err(e) = Request::check_magic(input, caps.extended) {
            return Next::Broken(e);
        }
    }
    if input.len() < header_len {
        return Next::NeedBytes;
    }
    let req = match Request::parse(&input[..header_len], caps.extended) {
        Ok(r) => r,
        Err(e) => return Next::Broken(e),
    };
    if req.cmd == NBD_CMD_DISC {
        return Next::Disconnect { header_len };
    }
    let verdict = match serving {
        Serving::Yes => validate(&req, caps),
        Serving::ShuttingDown => Err(Invalid {
            error: NBD_ESHUTDOWN,
            msg: "server is shutting down".into(),
        }),
        Serving::Disconnecting => Err(Invalid {
            error: NBD_ESHUTDOWN,
            msg: "the server is disconnecting this client".into(),
        }),
    };
    Next::Request {
        req,
        header_len,
        verdict,
    }
}

/// Why a request is answered with an error without reaching the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It breaks the protocol or the export's limits, or the server no
    /// longer serves the client (see [`Serving`]).
    Invalid(Invalid),
    /// No memory for its data (the connection logs that once, not per
    /// request).
    NoMemory,
}

/// What answering a [`Refusal`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The error reply, in the connection's framing.
    pub reply: Vec<u8>,
    /// The NBD error it carries (nbdkit logs "sending error reply" with
    /// the errno it stands for).
    pub error: u32,
    /// Why, for the log: a shutdown is routine (debug), the rest are the
    /// client's mistakes (error).
    pub said: Option<Said>,
}

impl Refusal {
    /// The reply to `req` refused for this reason.  An error chunk
    /// carries the reason only with `--send-error-messages` (nbdkit's
    /// carry none).
    pub fn reply(&self, req: &Request, caps: &ExportCaps) -> Refused {
        let (error, msg, said) = match self {
            Refusal::Invalid(inv) => {
                let said = if inv.error == NBD_ESHUTDOWN {
                    Said::Debug(inv.msg.clone())
                } else {
                    Said::Error(inv.msg.clone())
                };
                (inv.error, inv.msg.as_str(), Some(said))
            }
            Refusal::NoMemory => (NBD_ENOMEM, "", None),
        };
        let msg = if caps.error_messages { msg } else { "" };
        let mut reply = Vec::with_capacity(48 + msg.len().min(MAX_ERROR_MESSAGE));
        Reply::to(req, caps).error(&mut reply, error, msg);
        Refused { reply, error, said }
    }
}

/// A write's payload arriving after its header: kept in the request's own
/// buffer (its first `len` bytes), or read and dropped for a refused
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    len: u64,
    received: u64,
    keep: bool,
}

impl Payload {
    pub fn new(len: u64, keep: bool) -> Payload {
        Payload {
            len,
            received: 0,
            keep,
        }
    }

    /// Whether the bytes are kept (else dropped).
    pub fn keep(&self) -> bool {
        self.keep
    }

    /// How many of the `available` bytes already read belong to the
    /// payload; they are counted as received.
    pub fn take(&mut self, available: usize) -> usize {
        let n = self.missing().min(available as u64) as usize;
        self.received += n as u64;
        n
    }

    /// `n` more bytes were read straight into the buffer's
    /// [`Payload::unfilled`] part.
    pub fn received(&mut self, n: usize) {
        debug_assert!(n as u64 <= self.missing());
        self.received += n as u64;
    }

    /// Where the next kept bytes go in the request's buffer.
    pub fn unfilled(&self) -> std::ops::Range<usize> {
        self.received as usize..self.len as usize
    }

    pub fn missing(&self) -> u64 {
        self.len - self.received
    }

    pub fn is_complete(&self) -> bool {
        self.received == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::transmission::Command;

    const SIZE: u64 = 1 << 20;

    fn caps(extended: bool) -> ExportCaps {
        ExportCaps {
            size: SIZE,
            can_flush: true,
            can_fua: true,
            can_zero: true,
            structured: extended,
            extended,
            ..Default::default()
        }
    }

    /// A request header, compact (`count` as 32 bits) or extended.
    fn header_of(extended: bool, cmd: u16, flags: u16, offset: u64, count: u64) -> Vec<u8> {
        let magic = if extended {
            NBD_EXTENDED_REQUEST_MAGIC
        } else {
            NBD_REQUEST_MAGIC
        };
        let mut b = Vec::new();
        b.extend_from_slice(&magic.to_be_bytes());
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&cmd.to_be_bytes());
        b.extend_from_slice(&0x1234u64.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        if extended {
            b.extend_from_slice(&count.to_be_bytes());
        } else {
            b.extend_from_slice(&(count as u32).to_be_bytes());
        }
        b
    }

    fn header(cmd: u16, flags: u16, offset: u64, count: u32) -> Vec<u8> {
        header_of(false, cmd, flags, offset, count.into())
    }

    fn extended_header(cmd: u16, flags: u16, offset: u64, len: u64) -> Vec<u8> {
        header_of(true, cmd, flags, offset, len)
    }

    fn verdict(n: Next) -> Result<Valid, Invalid> {
        match n {
            Next::Request { verdict, .. } => verdict,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn a_header_is_waited_for_whole_but_a_bad_magic_is_seen_at_once() {
        let h = header(NBD_CMD_READ, 0, 0, 512);
        for n in [0, 3, 4, h.len() - 1] {
            assert_eq!(
                next(&h[..n], &caps(false), Serving::Yes),
                Next::NeedBytes,
                "{n} bytes"
            );
        }
        let mut bad = h.clone();
        bad[0] ^= 0xff;
        assert!(matches!(
            next(&bad[..4], &caps(false), Serving::Yes),
            Next::Broken(ProtocolError::BadRequestMagic(_))
        ));
        // A compact header after extended headers were negotiated is out
        // of sync too.
        assert!(matches!(
            next(&h, &caps(true), Serving::Yes),
            Next::Broken(ProtocolError::BadRequestMagic(_))
        ));
    }

    #[test]
    fn a_whole_header_becomes_a_typed_request_with_what_follows_left_alone() {
        let mut input = header(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 4096, 512);
        input.extend_from_slice(&[7u8; 100]);
        let Next::Request {
            req,
            header_len,
            verdict,
        } = next(&input, &caps(false), Serving::Yes)
        else {
            panic!("not a request")
        };
        assert_eq!(header_len, 28);
        assert_eq!((req.handle, req.offset, req.count), (0x1234, 4096, 512));
        assert_eq!(req.payload_len(), 512);
        assert_eq!(verdict.unwrap().cmd, Command::Write { fua: true });
        let input = extended_header(NBD_CMD_READ, 0, 0, 1 << 16);
        let Next::Request { header_len, .. } = next(&input, &caps(true), Serving::Yes) else {
            panic!("not a request")
        };
        assert_eq!(header_len, 32);
    }

    #[test]
    fn disconnect_and_refusals() {
        let disc = header(NBD_CMD_DISC, 0, 0, 0);
        assert_eq!(
            next(&disc, &caps(false), Serving::ShuttingDown),
            Next::Disconnect { header_len: 28 }
        );
        let read = header(NBD_CMD_READ, 0, 0, 512);
        let e = verdict(next(&read, &caps(false), Serving::ShuttingDown)).unwrap_err();
        assert_eq!(
            (e.error, e.msg.as_str()),
            (NBD_ESHUTDOWN, "server is shutting down")
        );
        let e = verdict(next(&read, &caps(false), Serving::Disconnecting)).unwrap_err();
        assert_eq!(
            (e.error, e.msg.as_str()),
            (NBD_ESHUTDOWN, "the server is disconnecting this client")
        );
        // Past the end of the export: refused, the connection goes on.
        let far = header(NBD_CMD_READ, 0, SIZE, 512);
        assert_eq!(
            verdict(next(&far, &caps(false), Serving::Yes))
                .unwrap_err()
                .error,
            NBD_EINVAL
        );
        // A payload longer than any request may carry ends the connection.
        let huge = extended_header(NBD_CMD_WRITE, NBD_CMD_FLAG_PAYLOAD_LEN, 0, 1 << 40);
        assert!(matches!(
            next(&huge, &caps(true), Serving::Yes),
            Next::Broken(ProtocolError::PayloadTooLong { .. })
        ));
    }

    /// (error, message length) of an error reply, simple or chunked.
    fn error_of(reply: &[u8]) -> (u32, usize) {
        let be32 = |i: usize| u32::from_be_bytes(reply[i..i + 4].try_into().unwrap());
        match be32(0) {
            NBD_SIMPLE_REPLY_MAGIC => {
                assert_eq!(reply.len(), 16);
                (be32(4), 0)
            }
            NBD_STRUCTURED_REPLY_MAGIC => {
                let (error, len) = (be32(20), u16::from_be_bytes([reply[24], reply[25]]));
                assert_eq!(reply.len(), 26 + len as usize);
                (error, len.into())
            }
            NBD_EXTENDED_REPLY_MAGIC => {
                let (error, len) = (be32(32), u16::from_be_bytes([reply[36], reply[37]]));
                assert_eq!(reply.len(), 38 + len as usize);
                (error, len.into())
            }
            m => panic!("not a reply: {m:#x}"),
        }
    }

    #[test]
    fn refusals_say_why_and_reply_in_the_connections_framing() {
        let req = Request::parse(&header(NBD_CMD_READ, 0, SIZE, 512), false).unwrap();
        let past_end = Invalid {
            error: NBD_EINVAL,
            msg: "invalid request: pread: beyond the end".into(),
        };
        let shutdown = Invalid {
            error: NBD_ESHUTDOWN,
            msg: "server is shutting down".into(),
        };
        let simple = ExportCaps::default();
        let messages = ExportCaps {
            structured: true,
            error_messages: true,
            ..Default::default()
        };
        let quiet = ExportCaps {
            structured: true,
            ..Default::default()
        };
        let extended = ExportCaps {
            error_messages: true,
            ..caps(true)
        };
        let msg_len = past_end.msg.len();
        #[rustfmt::skip]
        let table: &[(Refusal, &ExportCaps, u32, usize, Option<Said>)] = &[
            (Refusal::Invalid(past_end.clone()), &simple, NBD_EINVAL, 0,
             Some(Said::Error(past_end.msg.clone()))),
            (Refusal::Invalid(past_end.clone()), &messages, NBD_EINVAL, msg_len,
             Some(Said::Error(past_end.msg.clone()))),
            (Refusal::Invalid(past_end.clone()), &quiet, NBD_EINVAL, 0,
             Some(Said::Error(past_end.msg.clone()))),
            (Refusal::Invalid(past_end.clone()), &extended, NBD_EINVAL, msg_len,
             Some(Said::Error(past_end.msg.clone()))),
            (Refusal::Invalid(shutdown.clone()), &messages, NBD_ESHUTDOWN, shutdown.msg.len(),
             Some(Said::Debug(shutdown.msg.clone()))),
            (Refusal::NoMemory, &simple, NBD_ENOMEM, 0, None),
            (Refusal::NoMemory, &messages, NBD_ENOMEM, 0, None),
            (Refusal::NoMemory, &extended, NBD_ENOMEM, 0, None),
        ];
        for (refusal, caps, error, len, said) in table {
            let r = refusal.reply(&req, caps);
            assert_eq!(r.error, *error, "{refusal:?}");
            assert_eq!(&r.said, said, "{refusal:?}");
            assert_eq!(error_of(&r.reply), (*error, *len), "{refusal:?}");
            // The reply is to this request (its handle follows the magic
            // and four bytes in every framing).
            assert_eq!(&r.reply[8..16], &0x1234u64.to_be_bytes());
        }
    }

    #[test]
    fn a_payload_is_counted_in_from_the_buffer_then_from_the_socket() {
        let mut p = Payload::new(1000, true);
        assert_eq!(p.take(300), 300, "all of what was read with the header");
        assert_eq!(p.unfilled(), 300..1000);
        p.received(650);
        assert_eq!((p.missing(), p.is_complete()), (50, false));
        // The next request's bytes behind it stay unread.
        assert_eq!(p.take(80), 50);
        assert!(p.is_complete());
        assert_eq!(p.take(10), 0);
        // A refused write's payload is dropped as it comes.
        let mut d = Payload::new(5, false);
        assert!(!d.keep());
        assert_eq!(d.take(3), 3);
        assert_eq!(d.take(0), 0);
        assert_eq!(d.take(9), 2);
        assert!(d.is_complete());
    }
}
