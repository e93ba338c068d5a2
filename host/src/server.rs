//! The app factory: settings in, a bound listener and everything it serves out.
//! `App::build` → `local_addr()` → `run_until_stopped(shutdown)`; tests bind port 0.
//! Shutdown stops accepting, lets in-flight events finish (up to the grace period),
//! then releases this replica's calls (durable calls: another replica, or this one
//! restarted, continues them from the store) and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::acs::{self, Credential, RetryPolicy};
use crate::admin::{self, Admin};
use crate::admission::Allowances;
use crate::config::Settings;
use crate::contract::ConfigEntry;
use crate::directory::{Directory, Routes};
use crate::executor::{Durable, Executor, ExecutorConfig, TenantRuntime};
use crate::ingress::auth::CallbackAuth;
use crate::ingress::http::{self, Ingress};
use crate::replica::Replica;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Backend, Store};

/// A host ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    executor: Executor,
    tasks: TaskTracker,
    grace: Duration,
    replica: Option<Replica>,
    /// Kept alive: its watchdog enforces plugin deadlines.
    _runtime: Arc<Runtime>,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First: what happens while building (calls continued from the store) counts.
        let prometheus = crate::metrics::install();
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let local = listener.local_addr()?;
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));

        let runtime = Arc::new(Runtime::new(RuntimeConfig {
            cache_dir: Some(settings.runtime.cache_dir.clone()),
            fuel_metering: settings.runtime.fuel_metering,
            max_memory_bytes: settings.runtime.max_memory_bytes,
            max_concurrent_instances: settings.runtime.max_concurrent_instances.get(),
            ..RuntimeConfig::default()
        })?);
        warm_caches(&runtime, &settings.runtime.warm)?;
        let mut routes = Routes::default();
        for tenant in &settings.tenants {
            let bytes = std::fs::read(&tenant.plugin).with_context(|| {
                format!(
                    "tenant `{}`: reading plugin {}",
                    tenant.id,
                    tenant.plugin.display()
                )
            })?;
            let plugin = runtime.load(&bytes).with_context(|| {
                format!("tenant `{}`: plugin {}", tenant.id, tenant.plugin.display())
            })?;
            let runtime_tenant = TenantRuntime {
                id: tenant.id.clone(),
                plugin,
                config: tenant
                    .config
                    .iter()
                    .map(|(key, value)| ConfigEntry {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                limits: settings.limits_of(tenant),
                allowances: Allowances {
                    phone_prefixes: tenant.allow_phone_prefixes.clone(),
                    outbound_calls: tenant.outbound_calls,
                },
            };
            for number in &tenant.numbers {
                routes.add(number, runtime_tenant.clone());
            }
            tracing::info!(tenant = %tenant.id, plugin = %&runtime_tenant.plugin.digest()[..12], numbers = ?tenant.numbers, "tenant.loaded");
        }

        let mut roots = Vec::new();
        if let Some(path) = &settings.acs.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading acs.ca_file {}", path.display()))?;
            roots.push(
                reqwest::Certificate::from_pem(&pem)
                    .with_context(|| format!("acs.ca_file {}", path.display()))?,
            );
        }
        let credential = Credential::from_connection_string(&settings.acs.connection_string)
            .context("acs.connection_string")?;
        let retry = RetryPolicy {
            timeout: Duration::from_millis(settings.acs.request_timeout_ms.max(1)),
            ..RetryPolicy::default()
        };
        let client = acs::Client::new(credential, retry, &roots)?;
        let mut http = reqwest::Client::builder();
        for root in &roots {
            http = http.add_root_certificate(root.clone());
        }
        let auth = CallbackAuth::new(
            settings.acs.openid_configuration.clone(),
            settings.acs.audience.clone(),
            http.build()?,
        );

        let store = Store::open_with(&settings.store.url, settings.store.max_connections)
            .await
            .with_context(|| format!("opening the store {}", settings.store.url))?;
        let directory = Arc::new(Directory::new(
            store.clone(),
            Arc::clone(&runtime),
            routes,
            settings.limits,
        ));
        let admin = Arc::new(Admin::new(
            store.clone(),
            Arc::clone(&runtime),
            settings.admin.clone(),
            settings.runtime.clone(),
            settings.limits,
        ));

        if let Some(name) = &settings.server.replica {
            crate::store::live::check_replica(name).context("server.replica")?;
        }
        let durable = settings.store.durable_calls.then(|| Durable {
            store: store.clone(),
            replica: settings
                .server
                .replica
                .clone()
                .unwrap_or_else(|| match store.backend() {
                    Backend::Sqlite => "local".into(),
                    Backend::Postgres => format!(
                        "replica-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..8]
                    ),
                }),
            lease: Duration::from_millis(settings.server.call_lease_ms),
        });
        let tasks = TaskTracker::new();
        let executor = Executor::new(
            client,
            ExecutorConfig {
                public_url,
                reorder_hold: Duration::from_millis(settings.server.reorder_hold_ms),
                completion_timeout: Duration::from_millis(settings.server.completion_timeout_ms),
            },
            tasks.clone(),
            durable.clone(),
        );
        if settings.store.call_log {
            tokio::spawn(write_call_log(executor.journal(), store.clone()));
        }
        let replica = match durable {
            Some(durable) => Some(
                Replica::start(
                    executor.clone(),
                    Arc::clone(&directory),
                    durable,
                    &settings.store.url,
                )
                .await
                .context("continuing this replica's calls from the store")?,
            ),
            None => None,
        };
        let ingress = Arc::new(Ingress::new(executor.clone(), directory, auth, prometheus));
        // The service's keys, fetched before the first callback needs them.
        let warming = Arc::clone(&ingress);
        tokio::spawn(async move { warming.auth.warm().await });
        Ok(Self {
            listener,
            router: http::router(ingress).merge(admin::router(admin)),
            executor,
            tasks,
            grace: Duration::from_secs(settings.server.shutdown_grace_seconds),
            replica,
            _runtime: runtime,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    #[must_use]
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Serves until `shutdown` completes, then drains in-flight events.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, "server.listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // No more requests: each call finishes the events it accepted, then stops.
        self.executor.close();
        self.tasks.close();
        if tokio::time::timeout(self.grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                calls = self.executor.active_calls(),
                "server.shutdown: calls still in flight after the grace period"
            );
        }
        if let Some(replica) = self.replica {
            replica.release().await;
        }
        Ok(())
    }
}

/// Reads the components of `runtime.warm` now (a missing file stops the start) and
/// compiles them on a thread of their own: the host serves meanwhile, and an upload
/// before they are done compiles what it needs itself.
fn warm_caches(runtime: &Arc<Runtime>, paths: &[PathBuf]) -> anyhow::Result<()> {
    let components = paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .with_context(|| format!("runtime.warm: reading {}", path.display()))
                .map(|bytes| (path.clone(), bytes))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if components.is_empty() {
        return Ok(());
    }
    let runtime = Arc::clone(runtime);
    std::thread::Builder::new()
        .name("cache-warm".into())
        .spawn(move || {
            for (path, bytes) in components {
                let _span = tracing::info_span!("runtime.warm", path = %path.display()).entered();
                match runtime.warm(&bytes) {
                    Ok(warmed) => tracing::info!(
                        ms = warmed.elapsed.as_millis(),
                        compiled = warmed.functions_compiled,
                        read_back = warmed.functions_read,
                        "functions ready for uploads sharing them"
                    ),
                    Err(e) => tracing::warn!(error = %e, "not warmed"),
                }
            }
        })
        .context("starting the cache-warm thread")?;
    Ok(())
}

/// Writes the executor's journal to the store's call log, in batches of what has
/// piled up since the last write. Best effort: a log that cannot keep up loses
/// records (logged, counted), it never slows calls.
async fn write_call_log(
    mut journal: tokio::sync::broadcast::Receiver<crate::executor::Handled>,
    store: Store,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let first = match journal.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(lost)) => {
                tracing::warn!(
                    lost,
                    "store.call_log: records lost (the store is slower than the calls)"
                );
                ::metrics::counter!("switchboard_call_log_lost_total").increment(lost);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let mut batch = vec![first];
        while batch.len() < 512 {
            match journal.try_recv() {
                Ok(event) => batch.push(event),
                Err(TryRecvError::Lagged(lost)) => {
                    ::metrics::counter!("switchboard_call_log_lost_total").increment(lost);
                }
                Err(_) => break,
            }
        }
        if let Err(e) = store.record_call_events(&batch).await {
            tracing::warn!(error = %e, records = batch.len(), "store.call_log: not written");
        }
    }
}
