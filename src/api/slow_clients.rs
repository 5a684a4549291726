//! Deadlines on every connection, kept by one wrapper around its stream:
//! - the header-read deadline (`server.header_read_timeout_secs`): from the first byte of a
//!   request until the blank line ending its headers, at most that long may pass, or the
//!   read fails and hyper drops the connection, so a client trickling one header byte every
//!   few seconds cannot hold it;
//! - the idle deadline (`server.idle_timeout_secs`): a connection waiting that long for its
//!   next request is dropped. (A client that stops reading an answer holds only what the
//!   kernel buffers: the send buffer grows to hold all of our largest answer, the 2 MB
//!   Swagger page, so the write completes and the connection then idles.)
//!
//! After the headers, the request timeout (`middleware::Timeout`, which covers reading the
//! body) takes over; a response write marks the start of the next idle period. The idle
//! deadline is kept here rather than by poem's `idle_timeout`, which runs a task per
//! connection woken on every read and write and splits the stream behind a lock: a tenth of
//! the cost of a cached answer. HTTP/2's preface ends in a blank line, so h2 connections leave
//! the header phase at once and keep only the idle deadline.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

pub struct DeadlineAcceptor<A> {
    inner: A,
    limits: Limits,
}

/// How long a request's headers, and an idle connection, may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

impl<A> DeadlineAcceptor<A> {
    pub fn new(inner: A, limits: Limits) -> Self {
        Self { inner, limits }
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = ConnectionDeadlines<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((
            ConnectionDeadlines::new(io, self.limits),
            local,
            remote,
            scheme,
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the next byte starts one.
    Idle,
    /// Reading a request's headers; `newlines` counts line ends in a row.
    Head { newlines: u8 },
    /// Headers read; the body and the handler are the request timeout's business.
    Rest,
}

pub struct ConnectionDeadlines<Io> {
    io: Io,
    limits: Limits,
    phase: Phase,
    /// The deadline of the current head, or of the current idle wait.
    deadline: Pin<Box<Sleep>>,
    /// Whether `deadline` runs for the current phase. A head sets it only when it spans more
    /// than one read: most heads arrive whole in one read, and then no timer is touched. An
    /// idle wait sets it when it begins: at the connection's first read, or at each write of
    /// an answer.
    armed: bool,
}

impl<Io> ConnectionDeadlines<Io> {
    fn new(io: Io, limits: Limits) -> Self {
        Self {
            io,
            limits,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(limits.idle)),
            armed: false,
        }
    }

    /// After a write: one that went out ends the request, and the idle wait for the next
    /// one runs from it. The deadline is set (pushed later, which tokio does without touching
    /// its wheel) and polled here, because hyper has usually polled its read, found nothing
    /// and gone to sleep before it writes the answer: only the timer can wake it.
    fn wrote(&mut self, cx: &mut Context<'_>, written: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = written
            && *n > 0
        {
            self.phase = Phase::Idle;
            self.deadline
                .as_mut()
                .reset(Instant::now() + self.limits.idle);
            self.armed = true;
            // Registers the wake-up; the deadline cannot have passed, it was just set.
            let _ = self.deadline.as_mut().poll(cx);
        }
    }

    /// Follows the phase through `bytes` just read. Only line ends matter, so they are
    /// found with `memchr` rather than by looking at every byte.
    fn observe(&mut self, mut bytes: &[u8]) {
        loop {
            let newlines = match &mut self.phase {
                Phase::Rest => return,
                Phase::Idle if bytes.is_empty() => return,
                Phase::Idle => {
                    self.armed = false;
                    self.phase = Phase::Head { newlines: 0 };
                    continue;
                }
                Phase::Head { newlines } => newlines,
            };
            let (line, end) = match memchr::memchr(b'\n', bytes) {
                Some(at) => (&bytes[..at], true),
                None => (bytes, false),
            };
            // Anything but a `\r` on the line makes it a header line, not the blank one.
            if line.iter().any(|&b| b != b'\r') {
                *newlines = 0;
            }
            if !end {
                return;
            }
            *newlines += 1;
            if *newlines == 2 {
                self.phase = Phase::Rest;
            }
            bytes = &bytes[line.len() + 1..];
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for ConnectionDeadlines<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.observe(&buf.filled()[before..]);
        }
        let (limit, late) = match this.phase {
            Phase::Rest => return read,
            // Bytes (now a head), an end or an error: nothing to wait for.
            Phase::Idle if read.is_ready() => return read,
            Phase::Idle => (this.limits.idle, "the connection was idle too long"),
            Phase::Head { .. } => (this.limits.header, "request headers took too long"),
        };
        if !this.armed {
            // The phase began in this read: its deadline runs from now.
            this.deadline.as_mut().reset(Instant::now() + limit);
            this.armed = true;
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, late)));
        }
        read
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for ConnectionDeadlines<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(cx, &written);
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(cx, &written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phase a byte-at-a-time reading gives: the rule `observe` must keep.
    fn reference(phase: &mut Phase, bytes: &[u8]) {
        for &b in bytes {
            match *phase {
                Phase::Rest => return,
                Phase::Idle => *phase = Phase::Head { newlines: 0 },
                Phase::Head { .. } => {}
            }
            if let Phase::Head { newlines } = phase {
                match b {
                    b'\n' => {
                        *newlines += 1;
                        if *newlines == 2 {
                            *phase = Phase::Rest;
                        }
                    }
                    b'\r' => {}
                    _ => *newlines = 0,
                }
            }
        }
    }

    #[tokio::test]
    async fn the_head_ends_where_a_byte_at_a_time_reading_says_however_the_reads_split_it() {
        let inputs: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody",
            b"GET / HTTP/1.1\nHost: a\n\nbody",
            b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \r\n \r\n\r\n",
            b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"",
        ];
        for input in inputs {
            for split in 0..=input.len() {
                let (first, second) = input.split_at(split);
                let limits = Limits {
                    header: Duration::from_secs(1),
                    idle: Duration::from_secs(1),
                };
                let mut deadline = ConnectionDeadlines::new((), limits);
                let mut expected = Phase::Idle;
                for read in [first, second] {
                    deadline.observe(read);
                    reference(&mut expected, read);
                    assert_eq!(deadline.phase, expected, "{input:?} split at {split}");
                }
            }
        }
    }
}
