//! A header-read deadline for every request on a connection (`server.header_read_timeout_secs`).
//!
//! poem's server exposes an idle timeout (no bytes at all for a while) but not hyper's
//! header-read timeout, so a client trickling one header byte every few seconds would hold
//! its connection forever. This acceptor wraps each connection's stream: from the first byte
//! of a request until the blank line ending its headers, at most `limit` may pass, or the
//! read fails and hyper drops the connection. After the headers, the request timeout
//! (`middleware::Timeout`, which covers reading the body) takes over; a response write marks
//! the start of the next request. HTTP/2's preface ends in a blank line, so h2 connections
//! leave the header phase at once and rely on the idle timeout.

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

pub struct HeaderTimeoutAcceptor<A> {
    inner: A,
    limit: Duration,
}

impl<A> HeaderTimeoutAcceptor<A> {
    pub fn new(inner: A, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for HeaderTimeoutAcceptor<A> {
    type Io = HeaderDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((HeaderDeadline::new(io, self.limit), local, remote, scheme))
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

pub struct HeaderDeadline<Io> {
    io: Io,
    limit: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Whether `deadline` runs for the current head. It is set only when a head spans more
    /// than one read: most heads arrive whole in one read, and then no timer is touched.
    armed: bool,
}

impl<Io> HeaderDeadline<Io> {
    fn new(io: Io, limit: Duration) -> Self {
        Self {
            io,
            limit,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.phase {
                Phase::Rest => return,
                Phase::Idle => {
                    self.armed = false;
                    self.phase = Phase::Head { newlines: 0 };
                }
                Phase::Head { .. } => {}
            }
            if let Phase::Head { newlines } = &mut self.phase {
                match b {
                    b'\n' => {
                        *newlines += 1;
                        if *newlines == 2 {
                            self.phase = Phase::Rest;
                        }
                    }
                    b'\r' => {}
                    _ => *newlines = 0,
                }
            }
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for HeaderDeadline<Io> {
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
        if matches!(this.phase, Phase::Head { .. }) && !this.armed {
            // The head began in this read and did not end in it: the deadline runs from now,
            // the moment its first bytes arrived.
            this.deadline.as_mut().reset(Instant::now() + this.limit);
            this.armed = true;
        }
        if matches!(this.phase, Phase::Head { .. }) && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request headers took too long",
            )));
        }
        read
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            this.phase = Phase::Idle;
        }
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
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            this.phase = Phase::Idle;
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
