//! The API's HTTP/1.1 server: the accept loop and each connection's life, bounded so
//! that no client, and no number of them, can take the daemon down or starve its polls.
//!
//! * **A connection cap** below the process's descriptor limit ([`Limits::connections`]):
//!   the fetcher and the database keep a reserve the API never reaches.
//! * **At the cap, the idlest connection is closed** to make room ([`Conn::idleness`]):
//!   a slow-loris client (a head trickling in, or nothing at all, or an idle keep-alive)
//!   holds a slot only until someone needs it, while a request whose head has arrived,
//!   or is being answered, is never closed for room; so a real request always gets in.
//! * **Timeouts**: the request head must arrive within `header_timeout` (also the wait
//!   for the next request on a kept-alive connection); a connection on which no byte
//!   moves either way for `idle_timeout` is closed, however far it got (a client that
//!   stops reading its answer included).
//! * **Sizes**: hyper reads at most [`MAX_HEAD_BUFFER`] of a request head; the router
//!   answers with JSON errors below that (see `super::guard`).
//! * **Stopping**: on shutdown, no new connection is accepted; idle ones close at once,
//!   requests being answered get [`STOP_GRACE`], then every connection is dropped (a
//!   search in progress is cancelled when its request is dropped).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The most of a request head hyper buffers; a longer head gets hyper's own 431.
pub const MAX_HEAD_BUFFER: usize = 64 << 10;
/// How long requests being answered may take to finish once the daemon stops.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Descriptors kept for everything but the API: the database's files, logs, alert
/// commands, and slack; the fetcher's sockets are added to it (see [`Limits::connections`]).
const RESERVED_FDS: u64 = 96;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    /// The connection cap: `wanted`, but never more than the descriptors left under
    /// `fd_limit` once the reserve is set aside (the fetcher's `fetches` sockets, twice
    /// over for the connections its pool keeps, plus [`RESERVED_FDS`] and `readers`
    /// database connections of three files each). At least 8.
    pub fn connections(wanted: usize, fd_limit: u64, fetches: usize, readers: usize) -> usize {
        let reserve = RESERVED_FDS + 2 * fetches as u64 + 3 * readers as u64;
        let left = fd_limit.saturating_sub(reserve);
        (wanted as u64).min(left).max(8) as usize
    }
}

/// Connections the kernel may hold waiting for an accept (it caps this at `somaxconn`).
const BACKLOG: u32 = 4096;

/// Listens on `addr` with a long accept queue, so a burst of connections is not dropped
/// before the accept loop gets to it.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The soft limit on open descriptors, raised to the hard limit first where that is
/// allowed (systemd gives services 1,024 soft and 524,288 hard by default).
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit with a valid resource and a pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// What the accept loop and a connection's task both know of a connection.
#[derive(Default)]
struct Conn {
    /// A request on it is being answered.
    answering: AtomicBool,
    /// A whole request head has arrived (a blank line read) and is not answered yet.
    headed: AtomicBool,
    /// Bytes of a head have arrived, but not the whole head.
    partial: AtomicBool,
    /// A request on it has been answered.
    served: AtomicBool,
    /// Milliseconds after the server's start when it was accepted, or last began or
    /// finished a request.
    last_request: AtomicU64,
    /// Milliseconds after the server's start when a byte last moved either way.
    last_byte: AtomicU64,
    /// Told when it is evicted.
    close: Notify,
}

/// Milliseconds a connection just accepted, or just answered, is left alone: a real
/// client sends its request at once (its head may simply not have been read yet), and
/// one that keeps its connection sends the next right after an answer.
const GRACE_MS: u64 = 1_000;

impl Conn {
    /// How idle it is, least idle first; `None` when it may not be evicted (a request
    /// whose head has arrived, or that is being answered). Most idle: a head that has
    /// begun but never ended (slow-loris); then a connection that has sent nothing for
    /// [`GRACE_MS`]; then a kept-alive one that has waited that long for its next
    /// request; last, one just accepted or just answered. Within each, the longest
    /// without a request.
    fn idleness(&self, now_ms: u64) -> Option<(u8, u64)> {
        if self.answering.load(Ordering::Relaxed) || self.headed.load(Ordering::Relaxed) {
            return None;
        }
        let last = self.last_request.load(Ordering::Relaxed);
        let waited = now_ms.saturating_sub(last) >= GRACE_MS;
        let rank = match (self.partial.load(Ordering::Relaxed), self.served.load(Ordering::Relaxed), waited) {
            (true, _, _) => 3,
            (false, false, true) => 2,
            (false, true, true) => 1,
            (false, _, false) => 0,
        };
        Some((rank, u64::MAX - last))
    }
}

/// The open connections.
#[derive(Default)]
struct Slots(Mutex<BTreeMap<u64, Arc<Conn>>>);

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the idlest connection (see [`Conn::idleness`]) to close; false when none may
    /// be closed.
    fn evict_idlest(&self, now_ms: u64) -> bool {
        let mut slots = self.lock();
        let idlest = slots.iter().filter_map(|(id, c)| Some((c.idleness(now_ms)?, *id))).max().map(|(_, id)| id);
        let Some(conn) = idlest.and_then(|id| slots.remove(&id)) else {
            return false;
        };
        conn.close.notify_one();
        true
    }
}

/// Serves `app` on `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let mut server = Server {
        app,
        limits,
        stop: stop.clone(),
        slots: Arc::new(Slots::default()),
        epoch: Instant::now(),
        next_id: 0,
        connections: JoinSet::new(),
    };
    loop {
        tokio::select! {
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            accepted = listener.accept() => match accepted {
                // Every connection already waiting is taken, not one per turn of the loop: a
                // full accept queue drops handshakes, and the kernel retries a dropped one
                // only a second later (that was /healthz's slowest answer under a crowd).
                Ok((first, _)) => {
                    server.admit(first);
                    for (stream, _) in std::iter::from_fn(|| ready(&listener)).take(ACCEPT_BATCH) {
                        server.admit(stream);
                    }
                    // Finished connections are reaped as they go, so the set does not grow.
                    while server.connections.try_join_next().is_some() {}
                }
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or a connection reset before it was
                    // taken: wait a moment instead of spinning.
                    tracing::debug!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = server.connections.join_next(), if !server.connections.is_empty() => {}
        }
    }
    drop(listener);
    let mut connections = server.connections;
    let drained = tokio::time::timeout(STOP_GRACE + Duration::from_millis(500), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// The accept loop's state.
struct Server {
    app: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
    slots: Arc<Slots>,
    /// The times in [`Conn`] count from here.
    epoch: Instant,
    next_id: u64,
    connections: JoinSet<()>,
}

impl Server {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Gives an accepted connection a slot, evicting the idlest one at the cap, or
    /// refuses it when none may be evicted.
    fn admit(&mut self, stream: TcpStream) {
        while self.slots.lock().len() >= self.limits.connections {
            if !self.slots.evict_idlest(self.now_ms()) {
                self.connections.spawn(refuse(stream));
                return;
            }
        }
        let conn = Arc::new(Conn::default());
        conn.last_request.store(self.now_ms(), Ordering::Relaxed);
        // What the client has sent already, so the connection is ranked at once rather
        // than when its task first reads (under a burst, that can be after it is chosen
        // to make room).
        match peek_head(&stream) {
            Head::Whole => conn.headed.store(true, Ordering::Relaxed),
            Head::Begun => conn.partial.store(true, Ordering::Relaxed),
            Head::Nothing => {}
        }
        let id = self.next_id;
        self.next_id += 1;
        self.slots.lock().insert(id, conn.clone());
        let (app, slots, stop, limits, epoch) =
            (self.app.clone(), self.slots.clone(), self.stop.clone(), self.limits, self.epoch);
        self.connections.spawn(async move {
            connection(stream, app, limits, Watch { conn, epoch }, stop).await;
            slots.lock().remove(&id);
        });
    }
}

/// How much of a request head a new connection has sent.
enum Head {
    Nothing,
    Begun,
    Whole,
}

/// Looks at what waits to be read on `stream` without taking it.
fn peek_head(stream: &TcpStream) -> Head {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 4096];
    // SAFETY: recv into a local buffer of the given length, on a socket this stream owns;
    // MSG_PEEK leaves the bytes for hyper, MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT)
    };
    match usize::try_from(n) {
        Ok(0) | Err(_) => Head::Nothing,
        Ok(n) if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") => Head::Whole,
        Ok(_) => Head::Begun,
    }
}

/// Connections taken from the accept queue in one go.
const ACCEPT_BATCH: usize = 256;

/// A connection already waiting in the accept queue, without waiting for one.
fn ready(listener: &TcpListener) -> Option<(TcpStream, std::net::SocketAddr)> {
    let waker = std::task::Waker::noop();
    match listener.poll_accept(&mut Context::from_waker(waker)) {
        Poll::Ready(Ok(accepted)) => Some(accepted),
        _ => None,
    }
}

/// Answers a connection that found no slot to be had with a 503, reading its head
/// first (closing a socket with unread bytes resets it, and the client would never
/// see the answer).
async fn refuse(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = r#"{"error":"too many connections; try again shortly"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A connection's state and the server's clock.
#[derive(Clone)]
struct Watch {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Watch {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.conn.last_request.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long no byte has moved either way.
    fn idle_for(&self) -> Duration {
        let last = self.conn.last_byte.load(Ordering::Relaxed).max(self.conn.last_request.load(Ordering::Relaxed));
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }
}

/// One connection, from its first byte until it closes, times out, is evicted or the
/// server stops.
async fn connection(stream: TcpStream, app: Router, limits: Limits, watch: Watch, mut stop: watch::Receiver<bool>) {
    let io = TokioIo::new(Watched { inner: stream, watch: watch.clone(), tail: [0; 3] });
    let answering = watch.clone();
    let service = hyper::service::service_fn(move |request| {
        let (app, watch) = (app.clone(), answering.clone());
        async move {
            let _answering = Answering::start(&watch);
            app.oneshot(request).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_HEAD_BUFFER);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let state = &watch.conn;
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let idle_left = limits.idle_timeout.saturating_sub(watch.idle_for());
        let mut deadline = tokio::time::Instant::now() + idle_left;
        if let Some(at) = closing {
            deadline = deadline.min(at);
        }
        tokio::select! {
            _ = &mut conn => return,
            // Evicted to make room, or the server stops: a connection not being answered
            // goes at once, and its descriptor with it; one being answered finishes its
            // answer first, within the grace.
            _ = async { tokio::select! { _ = state.close.notified() => {}, _ = stop.changed() => {} } }, if closing.is_none() => {
                if !state.answering.load(Ordering::Relaxed) {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + STOP_GRACE);
            }
            _ = tokio::time::sleep_until(deadline) => {
                let idle = watch.idle_for() >= limits.idle_timeout && !state.answering.load(Ordering::Relaxed);
                if idle || closing.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    return;
                }
            }
        }
    }
}

/// A request being answered: marks its connection as answering and notes the time,
/// and when the answer is ready (or the handler is dropped) clears the marks and notes
/// the time again, so a client that sends one request after another never looks idle.
struct Answering<'a>(&'a Watch);

impl<'a> Answering<'a> {
    fn start(watch: &'a Watch) -> Answering<'a> {
        watch.conn.answering.store(true, Ordering::Relaxed);
        watch.touch();
        Answering(watch)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        let conn = &self.0.conn;
        self.0.touch();
        conn.served.store(true, Ordering::Relaxed);
        conn.headed.store(false, Ordering::Relaxed);
        conn.partial.store(false, Ordering::Relaxed);
        conn.answering.store(false, Ordering::Relaxed);
    }
}

/// A stream that tells its connection's state when bytes move, and when a request
/// head has begun and ended.
struct Watched {
    inner: TcpStream,
    watch: Watch,
    /// The last three bytes read, to find a head's end split across two reads.
    tail: [u8; 3],
}

impl Watched {
    fn moved(&self) {
        self.watch.conn.last_byte.store(self.watch.now_ms(), Ordering::Relaxed);
    }

    /// Notes that bytes of a head arrived, and whether they end it (a blank line, also
    /// across the seam with the bytes before).
    fn saw(&mut self, bytes: &[u8]) {
        const END: &[u8] = b"\r\n\r\n";
        let conn = &self.watch.conn;
        let seam: Vec<u8> = self.tail.iter().chain(bytes.iter().take(3)).copied().collect();
        if seam.windows(4).any(|w| w == END) || bytes.windows(4).any(|w| w == END) {
            conn.headed.store(true, Ordering::Relaxed);
            conn.partial.store(false, Ordering::Relaxed);
        } else if !conn.answering.load(Ordering::Relaxed) {
            conn.partial.store(true, Ordering::Relaxed);
        }
        let mut last: Vec<u8> = self.tail.iter().chain(bytes.iter().rev().take(3).rev()).copied().collect();
        last.drain(..last.len() - 3);
        self.tail.copy_from_slice(&last);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
            self.saw(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_end_of_a_head_is_seen_even_across_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let watch = Watch { conn: Arc::default(), epoch: Instant::now() };
        let mut w = Watched { inner: stream, watch: watch.clone(), tail: [0; 3] };
        for piece in [&b"GET / HTTP/1.1\r\nHost: x\r"[..], b"\n", b"X-Slow: a"] {
            w.saw(piece);
        }
        assert!(!watch.conn.headed.load(Ordering::Relaxed), "no blank line yet");
        assert!(watch.conn.partial.load(Ordering::Relaxed));
        for piece in [&b"\r\n\r"[..], b"\n"] {
            w.saw(piece);
        }
        assert!(watch.conn.headed.load(Ordering::Relaxed), "the blank line split over two reads");
        assert!(!watch.conn.partial.load(Ordering::Relaxed));
    }

    #[test]
    fn the_idlest_connection_goes_first_and_no_request_that_has_arrived_goes() {
        let slots = Slots::default();
        let make = |id: u64, last: u64, f: &dyn Fn(&Conn)| {
            let c = Arc::new(Conn::default());
            c.last_request.store(last, Ordering::Relaxed);
            f(&c);
            slots.lock().insert(id, c);
        };
        make(0, 100, &|c| c.answering.store(true, Ordering::Relaxed)); // being answered
        make(1, 200, &|c| c.headed.store(true, Ordering::Relaxed)); // its head arrived
        make(2, 9_900, &|_| {}); // just accepted, nothing sent yet
        make(3, 5_000, &|c| c.served.store(true, Ordering::Relaxed)); // kept alive, 5 s since an answer
        make(7, 9_950, &|c| c.served.store(true, Ordering::Relaxed)); // answered 50 ms ago
        make(4, 1_000, &|_| {}); // silent for 9 s
        make(5, 8_000, &|c| c.partial.store(true, Ordering::Relaxed)); // a head trickling in
        make(6, 3_000, &|c| c.partial.store(true, Ordering::Relaxed)); // an older one
        let mut order = Vec::new();
        while slots.evict_idlest(10_000) {
            let left: Vec<u64> = slots.lock().keys().copied().collect();
            let gone = (0..8).find(|id| !left.contains(id) && !order.contains(id)).unwrap();
            order.push(gone);
        }
        assert_eq!(order, [6, 5, 4, 3, 2, 7], "then none: {:?} stay", slots.lock().keys().collect::<Vec<_>>());
    }

    #[test]
    fn the_connection_cap_leaves_the_reserve_below_the_descriptor_limit() {
        // systemd's default soft limit, 32 fetches, 12 database readers.
        let cap = Limits::connections(1024, 1024, 32, 12);
        assert_eq!(cap, 1024 - 96 - 64 - 36);
        assert_eq!(Limits::connections(256, 1024, 32, 12), 256, "the configured cap when it fits");
        assert_eq!(Limits::connections(256, 100, 32, 12), 8, "never below 8");
    }
}
