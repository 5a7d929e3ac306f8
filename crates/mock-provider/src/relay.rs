//! A TCP relay that tests put between a gateway node and a service it depends on (PostgreSQL,
//! Redis) to cut the link and restore it, as a network failure or a restarted service would.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Relays `127.0.0.1:{port}` to a target until dropped.
pub struct Relay {
    addr: SocketAddr,
    open: Arc<watch::Sender<bool>>,
    accepting: JoinHandle<()>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let open = Arc::new(watch::Sender::new(true));
        let accepting = tokio::spawn(accept(listener, target, open.clone()));
        Ok(Relay { addr, open, accepting })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection; new ones are closed as soon as they are accepted.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, open: Arc<watch::Sender<bool>>) {
    while let Ok((client, _)) = listener.accept().await {
        let mut open = open.subscribe();
        if !*open.borrow_and_update() {
            continue;
        }
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else { return };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = open.wait_for(|open| !*open) => {}
            }
        });
    }
}
