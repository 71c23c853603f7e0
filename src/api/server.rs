//! The API's HTTP/1.1 server: the accept loop and each connection's life, bounded so
//! that no client, and no number of them, can take the daemon down or starve its polls.
//!
//! * **A connection cap** below the process's descriptor limit ([`Limits::connections`]):
//!   the fetcher and the database keep a reserve the API never reaches.
//! * **At the cap, the oldest connection that is not being answered is closed** to make
//!   room: a slow-loris client (headers trickling in, or an idle keep-alive) holds a
//!   slot only until someone needs it, so a real request always gets in.
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

/// One open connection, as the accept loop sees it.
struct Slot {
    /// Set while a request on it is being answered: such a connection is not evicted.
    busy: Arc<AtomicBool>,
    /// When it was accepted or last began or finished a request (milliseconds since the
    /// server started).
    last_request: Arc<AtomicU64>,
    /// Set once a request on it has been answered.
    served: Arc<AtomicBool>,
    close: Arc<Notify>,
}

/// The open connections, oldest first (ids grow with each accept).
#[derive(Default)]
struct Slots(Mutex<BTreeMap<u64, Slot>>);

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Slot>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the idlest connection that is not answering a request to close: one never
    /// answered before one that was, then the one longest without a request. False when
    /// every connection is answering a request. A slow-loris connection never completes a
    /// request, while a client that keeps its connection for one request after another
    /// has been answered and is seldom idle for long.
    fn evict_longest_idle(&self) -> bool {
        let mut slots = self.lock();
        let idlest = slots
            .iter()
            .filter(|(_, s)| !s.busy.load(Ordering::Relaxed))
            .min_by_key(|(_, s)| (s.served.load(Ordering::Relaxed), s.last_request.load(Ordering::Relaxed)))
            .map(|(id, _)| *id);
        let Some(id) = idlest else {
            return false;
        };
        if let Some(slot) = slots.remove(&id) {
            slot.close.notify_one();
        }
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
    /// Times in [`Slot::last_request`] count from here.
    epoch: Instant,
    next_id: u64,
    connections: JoinSet<()>,
}

impl Server {
    /// Gives an accepted connection a slot, evicting the idlest one at the cap, or
    /// refuses it when every slot is answering a request.
    fn admit(&mut self, stream: TcpStream) {
        while self.slots.lock().len() >= self.limits.connections {
            if !self.slots.evict_longest_idle() {
                self.connections.spawn(refuse(stream));
                return;
            }
        }
        let marks = Marks {
            busy: Arc::new(AtomicBool::new(false)),
            last_request: Arc::new(AtomicU64::new(self.epoch.elapsed().as_millis() as u64)),
            served: Arc::new(AtomicBool::new(false)),
            epoch: self.epoch,
        };
        let close = Arc::new(Notify::new());
        let id = self.next_id;
        self.next_id += 1;
        let slot = Slot {
            busy: marks.busy.clone(),
            last_request: marks.last_request.clone(),
            served: marks.served.clone(),
            close: close.clone(),
        };
        self.slots.lock().insert(id, slot);
        let (app, slots, stop, limits) = (self.app.clone(), self.slots.clone(), self.stop.clone(), self.limits);
        self.connections.spawn(async move {
            connection(stream, app, limits, marks, close, stop).await;
            slots.lock().remove(&id);
        });
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

/// Answers a connection that found every slot busy with a 503, without reading it.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    let body = r#"{"error":"too many connections; try again shortly"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// What a connection tells the accept loop about itself (see [`Slot`]).
struct Marks {
    busy: Arc<AtomicBool>,
    last_request: Arc<AtomicU64>,
    served: Arc<AtomicBool>,
    epoch: Instant,
}

/// One connection, from its first byte until it closes, times out, is evicted or the
/// server stops.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    marks: Marks,
    close: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let answering = marks.busy.clone();
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched { inner: stream, started, activity: activity.clone() });
    let marks = Arc::new(marks);
    let service = hyper::service::service_fn(move |request| {
        let (app, marks) = (app.clone(), marks.clone());
        async move {
            let _answering = Answering::start(&marks);
            app.oneshot(request).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_HEAD_BUFFER);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let idle_for = started.elapsed().saturating_sub(Duration::from_millis(activity.load(Ordering::Relaxed)));
        let idle_left = limits.idle_timeout.saturating_sub(idle_for);
        let deadline = match closing {
            Some(at) => at.min(tokio::time::Instant::now() + idle_left),
            None => tokio::time::Instant::now() + idle_left,
        };
        tokio::select! {
            _ = &mut conn => return,
            // Evicted to make room, or the server stops: a connection not being answered
            // goes at once, and its descriptor with it; one being answered finishes its
            // answer first, within the grace.
            _ = async { tokio::select! { _ = close.notified() => {}, _ = stop.changed() => {} } }, if closing.is_none() => {
                if !answering.load(Ordering::Relaxed) {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + STOP_GRACE);
            }
            _ = tokio::time::sleep_until(deadline) => {
                let idle_for =
                    started.elapsed().saturating_sub(Duration::from_millis(activity.load(Ordering::Relaxed)));
                let idle = idle_for >= limits.idle_timeout && !answering.load(Ordering::Relaxed);
                if idle || closing.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    return;
                }
            }
        }
    }
}

/// A request being answered: marks its connection busy and its request time, and when
/// the answer is ready (or the handler is dropped) clears the mark and notes the time
/// again, so a client that sends one request after another never looks idle.
struct Answering<'a>(&'a Marks);

impl<'a> Answering<'a> {
    fn start(marks: &'a Marks) -> Answering<'a> {
        marks.busy.store(true, Ordering::Relaxed);
        marks.touch();
        Answering(marks)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.served.store(true, Ordering::Relaxed);
        self.0.busy.store(false, Ordering::Relaxed);
    }
}

impl Marks {
    fn touch(&self) {
        self.last_request.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// A stream that notes when bytes last moved, in milliseconds since `started`.
struct Watched {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn moved(&self) {
        self.activity.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
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

    #[test]
    fn the_connection_cap_leaves_the_reserve_below_the_descriptor_limit() {
        // systemd's default soft limit, 32 fetches, 12 database readers.
        let cap = Limits::connections(1024, 1024, 32, 12);
        assert_eq!(cap, 1024 - 96 - 64 - 36);
        assert_eq!(Limits::connections(256, 1024, 32, 12), 256, "the configured cap when it fits");
        assert_eq!(Limits::connections(256, 100, 32, 12), 8, "never below 8");
    }
}
