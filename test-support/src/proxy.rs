//! A TCP relay whose line can be cut: a test puts it between Intake and the real PostgreSQL
//! server to make the database unreachable and reachable again, without stopping the server the
//! other tests share. Cut, it closes every connection it carries and stops listening, so new
//! connections are refused, exactly as a stopped server's port refuses them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::watch,
};

pub struct Relay {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Relay {
    /// A relay to the PostgreSQL server of `server_url` (as `Backend::Postgres` names it).
    pub async fn to_postgres(server_url: &str) -> Arc<Self> {
        let url = url::Url::parse(server_url).expect("a PostgreSQL URL");
        let target = format!("{}:{}", url.host_str().expect("a host"), url.port().unwrap_or(5432));
        Self::start(tokio::net::lookup_host(target).await.expect("resolvable").next().expect("an address")).await
    }

    /// Points `config`'s database through this relay, with one-second connect and acquire
    /// time-outs, so that a cut line shows within a second.
    pub fn route(&self, config: &mut api::app::config::Config) {
        let mut url = url::Url::parse(&config.database.url).expect("a database URL");
        url.set_port(Some(self.addr.port())).expect("a port can be set");
        config.database.url = url.to_string();
        config.database.acquire_timeout = Duration::from_secs(1);
        config.database.connect_timeout = Duration::from_secs(1);
    }

    /// Relays a free loopback port to `target`, up.
    pub async fn start(target: SocketAddr) -> Arc<Self> {
        let addr = TcpListener::bind("127.0.0.1:0").await.expect("a free port").local_addr().expect("its address");
        let (up, state) = watch::channel(true);
        tokio::spawn(serve(addr, target, state));
        let relay = Arc::new(Self { addr, up });
        relay.wait_listening().await;
        relay
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Listens and relays again.
    pub async fn restore(&self) {
        self.up.send_replace(true);
        self.wait_listening().await;
    }

    async fn wait_listening(&self) {
        for _ in 0..200 {
            if TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the relay did not listen on {}", self.addr);
    }
}

async fn serve(addr: SocketAddr, target: SocketAddr, mut state: watch::Receiver<bool>) {
    loop {
        if !*state.borrow_and_update() {
            if state.changed().await.is_err() {
                return;
            }
            continue;
        }
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(addr).expect("the relay's port");
        let listener = socket.listen(128).expect("listening");
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    let mut cut = state.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(target).await else { return };
                        let mut client = client;
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.wait_for(|up| !*up) => {}
                        }
                    });
                }
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if !*state.borrow() {
                        break;
                    }
                }
            }
        }
    }
}
