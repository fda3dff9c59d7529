//! The connections the gRPC server serves: accepted on the listener, each TLS handshake done
//! on a task of its own (a slow or silent client holds up nobody else), bounded in time.
use super::ServerTls;
use std::{io, sync::Arc, time::Duration};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const QUEUE: usize = 128;

/// Accepts on `listener` until the returned stream is dropped (the server stopped).
pub fn incoming(listener: TcpListener, tls: Arc<ServerTls>) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (ready, stream) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = ready.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: the listener itself is fine; breathe, go on.
                    tracing::warn!(%error, "accepting a gRPC connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Nagle's algorithm would hold an answer's frames for the caller's delayed ACK.
            let _ = tcp.set_nodelay(true);
            let acceptor = tls.acceptor();
            let ready = ready.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = ready.send(Ok(stream)).await;
                    }
                    // A certificate from another CA, an expired one, a client speaking plain
                    // text: refused before any call; the reason is for the operator.
                    Ok(Err(error)) => tracing::info!(%peer, %error, "a gRPC TLS handshake was refused"),
                    Err(_) => tracing::info!(%peer, "a gRPC TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(stream)
}
