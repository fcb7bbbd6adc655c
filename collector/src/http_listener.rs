//! Every HTTP listener's accept loop (`fluoro serve`'s API, OTLP HTTP and sampling ports, the
//! sidecar's), bounded against slow and stalled clients: a request head must arrive whole
//! within [`HttpLimits::header_read_timeout`] (also the idle limit of a kept-alive
//! connection), a body may pause at most [`HttpLimits::body_read_timeout`] between two chunks,
//! and at most [`HttpLimits::max_connections`] connections are served at once (further ones
//! wait in the kernel's backlog until a slot frees). So a few hundred sockets that trickle a
//! header or stall mid-body hold a slot each for seconds, not forever, and every other client
//! keeps being answered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::error::CollectorError;

/// How long a slow client may hold a connection, and how many connections are served at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From a request's first byte (or the previous answer, on a kept-alive connection) to its
    /// whole head; then the connection is closed.
    pub header_read_timeout: Duration,
    /// The longest pause between two chunks of a request body; then the request fails (408).
    pub body_read_timeout: Duration,
    /// Connections served at once per listener.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// The Content-Security-Policy of answers that set none (API JSON, error texts, 404s): nothing
/// in them may run, load or be framed, should a browser ever render one.
pub const FALLBACK_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Every answer of every listener carries a Content-Security-Policy (the dashboard and the
/// login page set their own) and `nosniff`, so no error text or JSON is sniffed into HTML.
async fn locked_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.entry(CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(FALLBACK_CONTENT_SECURITY_POLICY));
    headers.entry(X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    response
}

/// After a stop, connections still answering get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors): wait rather than spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The next connection and the slot it holds until it closes: waits for a free slot, then for
/// a connection (an accept error is logged and retried). `None` once `stop` completes.
pub(crate) async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    mut stop: impl Future<Output = ()> + Unpin,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.ok()?,
            () = &mut stop => return None,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => return Some((stream, slot)),
                Err(error) => {
                    tracing::warn!(error = %error, "cannot accept a connection; retrying");
                    drop(slot);
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
            () = &mut stop => return None,
        }
    }
}

/// Whether the client sends its first byte within `timeout`: hyper's head timeout and HTTP/2's
/// handshake start only once it has.
pub(crate) async fn speaks_within(stream: &TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(tokio::time::timeout(timeout, stream.peek(&mut first)).await, Ok(Ok(read)) if read > 0)
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets the
/// connections under way finish (at most [`SHUTDOWN_GRACE`]).
pub(crate) async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CollectorError> {
    let router = router
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(axum::middleware::map_response(locked_down));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // HTTP/1 only: detecting HTTP/2's preface would wait, without a timeout, for a client that
    // connects and sends nothing; no client of these ports speaks HTTP/2 without TLS.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    while let Some((stream, slot)) = next_connection(&listener, &slots, &mut shutdown).await {
        let (builder, router, watcher) = (builder.clone(), router.clone(), graceful.watcher());
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            // hyper's head timeout starts with the first byte: a client that connects and sends
            // nothing is closed here instead.
            if !speaks_within(&stream, header_read_timeout).await {
                return drop(slot);
            }
            let connection =
                builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(router));
            // A client that goes away or times out ends its connection: nothing to report.
            let _ = watcher.watch(connection).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}
