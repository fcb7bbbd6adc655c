//! The OTLP gRPC port's connections, bounded as the HTTP listeners' are (`http_listener.rs`,
//! `[http]`): at most `max_connections` at once, each holding a slot until it closes, and a
//! connection that sends nothing within `header_read_timeout` is closed before tonic sees it.
//! tonic offers neither: HTTP/2 has no handshake timeout, and its keep-alive pings only start
//! once a connection has spoken.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::http_listener::{next_connection, speaks_within, HttpLimits};

/// The connections that spoke within the timeout, for `Server::serve_with_incoming_shutdown`.
/// Dropping it (the server stopped) stops the accepting.
pub(crate) struct BoundedIncoming {
    connections: mpsc::Receiver<BoundedStream>,
}

impl futures_core::Stream for BoundedIncoming {
    type Item = Result<BoundedStream, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.connections.poll_recv(context).map(|connection| connection.map(Ok))
    }
}

/// Accepts on `listener` within `limits`, on a task of its own.
pub(crate) fn bounded_incoming(listener: TcpListener, limits: HttpLimits) -> BoundedIncoming {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (ready, connections) = mpsc::channel(limits.max_connections.max(1));
    tokio::spawn(async move {
        while let Some((stream, slot)) = next_connection(&listener, &slots, Box::pin(ready.closed())).await {
            let ready = ready.clone();
            tokio::spawn(async move {
                if speaks_within(&stream, limits.header_read_timeout).await {
                    // The server gone meanwhile: the connection and its slot go with it.
                    let _ = ready.send(BoundedStream { stream, _slot: slot }).await;
                }
            });
        }
    });
    BoundedIncoming { connections }
}

/// An accepted connection and its slot, given back when tonic drops the connection.
pub(crate) struct BoundedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Connected for BoundedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(context, buf)
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
