//! A site's TCP listener, which can be closed (connections refused) and reopened on the same
//! port, aborting the connections it had.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Serves a router on a fixed address; `close` refuses connections until `open` again.
pub struct SiteListener {
    addr: SocketAddr,
    router: Router,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SiteListener {
    /// Binds a free port without serving yet: the site needs its address before its router
    /// exists (links and catalogs carry it).
    pub async fn reserve(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Serves `router` on an already bound listener.
    pub fn from_listener(listener: TcpListener, router: Router) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let me = SiteListener {
            addr,
            router,
            task: Mutex::new(None),
        };
        me.serve(listener);
        Ok(me)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while connections are accepted.
    pub fn is_open(&self) -> bool {
        self.task.lock().is_some()
    }

    /// Stops accepting and drops every open connection.
    pub fn close(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }

    /// Accepts connections again on the same address.
    pub async fn open(&self) -> io::Result<()> {
        if self.is_open() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    fn serve(&self, listener: TcpListener) {
        let router = self.router.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                conns.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        *self.task.lock() = Some(task);
    }
}

impl Drop for SiteListener {
    fn drop(&mut self) {
        self.close();
    }
}
