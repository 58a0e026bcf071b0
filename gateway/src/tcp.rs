//! AMQP over TCP (and, through [`serve_stream`], over TLS): accepting, and
//! per connection a reader task and a writer task that only move bytes. Separate tasks mean a peer that is slow to
//! read never stops us reading from it (no write/write deadlock).

use std::net::SocketAddr;

use std::time::Duration;

use broker_core::{ConnectionId, PeerAddress, PeerInfo, Transport};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::core_task::{CoreSender, Input};

/// Read buffer size: one read can carry hundreds of small frames.
const READ_CHUNK: usize = 64 * 1024;
/// Writes gathered into one vectored write.
const MAX_GATHER: usize = 64;
/// Reads of one connection queued for the core at once (see `Input::Data`).
pub const READ_AHEAD: usize = 2;

pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        // Keep [::] from also claiming the IPv4 port bound separately.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

pub async fn accept_loop(listener: TcpListener, core: CoreSender, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(serve(stream, peer, core.clone()));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, core: CoreSender) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let (rd, wr) = stream.into_split();
    run(rd, wr, peer, local, None, core).await;
}

/// Serves an AMQP connection on any byte stream (a TLS stream from
/// [`crate::tls`]) as on plain TCP. `certificate_user` is the identity of a
/// verified client certificate: the connection then offers EXTERNAL.
pub async fn serve_stream<S>(stream: S, peer: SocketAddr, local: Option<SocketAddr>, certificate_user: Option<String>, core: CoreSender)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    run(rd, wr, peer, local, certificate_user, core).await;
}

async fn run<R, W>(rd: R, wr: W, peer: SocketAddr, local: Option<SocketAddr>, certificate_user: Option<String>, core: CoreSender)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = oneshot::channel();
    let address = PeerAddress::Socket { peer, local };
    let info = PeerInfo { address, loopback: peer.ip().to_canonical().is_loopback(), transport: Transport::Tcp };
    let (pause_tx, paused) = watch::channel(false);
    let (linger_tx, mut linger_rx) = oneshot::channel();
    let connected =
        Input::Connected { peer: info, writer: writer_tx, pause: pause_tx, linger: Some(linger_tx), reply: reply_tx, certificate_user };
    if core.send(connected).await.is_err() {
        return;
    }
    let Ok(id) = reply_rx.await else { return };
    let (stop_tx, stop_rx) = oneshot::channel();
    let reader = tokio::spawn(read_loop(rd, core.clone(), id, paused, stop_rx));
    let wr = write_loop(wr, writer_rx, core, id).await;
    // The core is done with this connection (or the socket failed).
    let linger = linger_rx.try_recv().unwrap_or_default();
    match wr {
        Some(mut wr) if !linger.is_zero() => {
            // Read on (and discard) until the peer closes its side, so the
            // frames it sent before seeing our close-ok do not meet a closed
            // socket and reset the connection (RabbitMQ does the same).
            let _ = stop_tx.send(());
            if let Ok(Some(rd)) = reader.await {
                discard_until_closed(rd, linger).await;
            }
            let _ = wr.shutdown().await;
        }
        Some(mut wr) => {
            reader.abort();
            let _ = wr.shutdown().await;
        }
        None => reader.abort(),
    }
}

/// Feeds what the peer sends to the core until it closes its side (`None`)
/// or `stop` fires: then the read half is handed back.
async fn read_loop<R>(
    mut rd: R,
    core: CoreSender,
    id: ConnectionId,
    mut paused: watch::Receiver<bool>,
    mut stop: oneshot::Receiver<()>,
) -> Option<R>
where
    R: AsyncRead + Unpin,
{
    let credit = std::sync::Arc::new(tokio::sync::Semaphore::new(READ_AHEAD));
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let step = async {
            // Paused by the core (an alarm, unread output, credit flow):
            // leave the bytes in the socket.
            wait_while_paused(&mut paused).await?;
            // At most READ_AHEAD reads waiting in the core's queue.
            let permit = credit.clone().acquire_owned().await.map_err(|_| ())?;
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => Err(()),
                Ok(_) => {
                    let data = buf.split().freeze();
                    core.send(Input::Data { connection: id, data, credit: Some(permit) }).await.map_err(|_| ())
                }
            }
        };
        // Every await in `step` may be abandoned: read_buf takes nothing
        // when cancelled, and data not yet handed over is of no more use.
        tokio::select! {
            biased;
            _ = &mut stop => return Some(rd),
            r = step => if r.is_err() { break },
        }
    }
    let _ = core.send(Input::Disconnected { connection: id }).await;
    None
}

/// Reads and drops whatever arrives until the peer closes or `linger` passes.
async fn discard_until_closed<R: AsyncRead + Unpin>(mut rd: R, linger: Duration) {
    let mut scratch = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(linger, async { while let Ok(1..) = rd.read(&mut scratch).await {} }).await;
}

/// Waits while the core has paused reading; `Err` if the core is gone.
pub async fn wait_while_paused(paused: &mut watch::Receiver<bool>) -> Result<(), ()> {
    while *paused.borrow_and_update() {
        paused.changed().await.map_err(|_| ())?;
    }
    Ok(())
}

/// Writes what the core hands over until it drops the channel (the
/// connection is finished): the write half is then handed back, still
/// open. `None` if a write failed (the core is told).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    core: CoreSender,
    id: ConnectionId,
) -> Option<W> {
    let mut pending: Vec<Bytes> = Vec::with_capacity(MAX_GATHER);
    while rx.recv_many(&mut pending, MAX_GATHER).await > 0 {
        let total: usize = pending.iter().map(Bytes::len).sum();
        if write_all_vectored(&mut wr, &mut pending).await.is_err() {
            let _ = core.send(Input::Disconnected { connection: id }).await;
            return None;
        }
        if core.send(Input::Written { connection: id, bytes: total }).await.is_err() {
            break;
        }
    }
    Some(wr)
}

async fn write_all_vectored<W: AsyncWrite + Unpin>(wr: &mut W, bufs: &mut Vec<Bytes>) -> std::io::Result<()> {
    use bytes::Buf;
    while !bufs.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> = bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut drained = 0;
        for b in bufs.iter_mut() {
            if n >= b.len() {
                n -= b.len();
                drained += 1;
            } else {
                b.advance(n);
                break;
            }
        }
        bufs.drain(..drained);
    }
    Ok(())
}
