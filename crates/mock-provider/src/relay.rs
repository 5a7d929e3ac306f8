//! A TCP relay that tests put between a gateway node and a service it depends on (PostgreSQL,
//! Redis) to cut the link and restore it, as a network failure or a restarted service would.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the relay does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Relays them.
    Open,
    /// Closes them, new ones as soon as they are accepted (a stopped service).
    Cut,
    /// Closes the relayed ones and holds new ones unanswered (a network partition: connecting
    /// hangs instead of failing); they are relayed once the link is restored.
    Partitioned,
    /// Keeps the relayed ones open but lets nothing through, and holds new ones unanswered
    /// (packets silently dropped: a query on an open connection hangs instead of failing).
    /// What was sent meanwhile arrives once the link is restored, as TCP retransmits it.
    Blackholed,
}

/// Relays `127.0.0.1:{port}` to a target until dropped.
pub struct Relay {
    addr: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    accepting: JoinHandle<()>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let link = Arc::new(watch::Sender::new(Link::Open));
        let accepting = tokio::spawn(accept(listener, target, link.clone()));
        Ok(Relay { addr, link, accepting })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection; new ones are closed as soon as they are accepted.
    pub fn cut(&self) {
        self.link.send_replace(Link::Cut);
    }

    /// Closes every relayed connection; new ones are held without an answer until
    /// [`Relay::restore`] (then relayed) or [`Relay::cut`] (then closed).
    pub fn partition(&self) {
        self.link.send_replace(Link::Partitioned);
    }

    /// Lets nothing through any more, without closing anything: relayed connections stay open
    /// and silent, new ones are held unanswered, until [`Relay::restore`] (then everything
    /// sent meanwhile is delivered) or [`Relay::cut`] (then everything is closed).
    pub fn blackhole(&self) {
        self.link.send_replace(Link::Blackholed);
    }

    /// Relays new connections again, and those held by a partition or a blackhole.
    pub fn restore(&self) {
        self.link.send_replace(Link::Open);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, link: Arc<watch::Sender<Link>>) {
    while let Ok((client, _)) = listener.accept().await {
        let mut link = link.subscribe();
        if *link.borrow_and_update() == Link::Cut {
            continue;
        }
        tokio::spawn(async move {
            let held = link.wait_for(|state| matches!(state, Link::Open | Link::Cut)).await.map(|state| *state);
            if !matches!(held, Ok(Link::Open)) {
                return;
            }
            let Ok(server) = TcpStream::connect(target).await else { return };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let (upstream, downstream) = (link.clone(), link.clone());
            let both_ways = async {
                tokio::join!(pump(client_read, server_write, upstream), pump(server_read, client_write, downstream))
            };
            tokio::select! {
                _ = both_ways => {}
                _ = link.wait_for(|state| matches!(state, Link::Cut | Link::Partitioned)) => {}
            }
        });
    }
}

/// Copies one direction of a relayed connection; while the link is blackholed, what is read
/// waits here undelivered.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut link: watch::Receiver<Link>) -> std::io::Result<()> {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        if link.wait_for(|state| *state != Link::Blackholed).await.is_err() {
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
    }
}
