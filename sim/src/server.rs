//! Listening: plain HTTP and HTTPS (with the simulator's own certificate) serving the
//! same router, with a shutdown token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, State};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ListenerPort};
use crate::config::SimConfig;
use crate::tls::Certificates;
use crate::world::Sim;
use crate::{inspect, script};

/// Where to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    pub http: SocketAddr,
    /// `None`: no HTTPS.
    pub https: Option<SocketAddr>,
    /// Write the CA certificate here.
    pub ca_file: Option<PathBuf>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            http: ([127, 0, 0, 1], 0).into(),
            https: Some(([127, 0, 0, 1], 0).into()),
            ca_file: None,
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Running {
    pub sim: Arc<Sim>,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    /// The CA certificate clients must trust for HTTPS, PEM.
    pub ca_pem: String,
    shutdown: CancellationToken,
}

impl Running {
    /// The connection string SDKs are built with.
    #[must_use]
    pub fn connection_string(&self) -> String {
        let endpoint = match self.https {
            Some(addr) => format!("https://{addr}/"),
            None => format!("http://{}/", self.http),
        };
        format!(
            "endpoint={endpoint};accesskey={}",
            self.sim.config.access_key
        )
    }

    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Stops accepting; running deliveries are abandoned.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route(
            "/calling/.well-known/acsopenidconfiguration",
            get(|State(sim): State<Arc<Sim>>| async move {
                axum::Json(sim.signer.openid_configuration(&sim.base_url()))
            }),
        )
        .route(
            "/calling/keys",
            get(|State(sim): State<Arc<Sim>>| async move { axum::Json(sim.signer.jwks()) }),
        )
        .nest("/sim", inspect::router())
        .fallback(api::calling)
        .with_state(sim)
}

/// Starts the simulator: binds the listeners, writes the CA file, places the
/// configured callers.
pub async fn start(config: SimConfig, listen: Listen) -> anyhow::Result<Running> {
    let callers: Vec<script::Caller> = config.scenario.callers.clone();
    let sim = Sim::new(config)?;
    let shutdown = CancellationToken::new();

    let http = TcpListener::bind(listen.http).await?;
    let http_addr = http.local_addr()?;
    let app = router(Arc::clone(&sim));
    let http_app = app.clone().layer(Extension(ListenerPort(http_addr.port())));
    let token = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(http, http_app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
    });

    let certificates = Certificates::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    if let Some(path) = &listen.ca_file {
        certificates.write_ca(path)?;
    }
    let mut https_addr = None;
    if let Some(addr) = listen.https {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        https_addr = Some(addr);
        let acceptor = tokio_rustls::TlsAcceptor::from(certificates.server_config()?);
        let app = app.layer(Extension(ListenerPort(addr.port())));
        let token = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    }
    let base = https_addr.map_or_else(|| format!("http://{http_addr}"), |a| format!("https://{a}"));
    *sim.base_url
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = base;

    for caller in callers {
        let (from, to) = (party(&caller.from), party(&caller.to));
        sim.ring(from, to, Some(caller));
    }
    Ok(Running {
        sim,
        http: http_addr,
        https: https_addr,
        ca_pem: certificates.ca_pem,
        shutdown,
    })
}

fn party(text: &str) -> crate::identifier::RawId {
    if text.starts_with('+') {
        crate::identifier::RawId::phone(text)
    } else {
        crate::identifier::RawId(text.to_owned())
    }
}
