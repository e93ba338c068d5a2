//! Who answers a call: the tenants of the config file (static), then the routes in the
//! store. A call is pinned to the plugin version active when it rang: the
//! [`TenantRuntime`] handed to the executor holds that version for the call's life, so
//! activating another version changes only calls that ring afterwards.
//!
//! Loaded versions are kept by SHA-256 (loading one is a cache hit on the artifact the
//! upload precompiled).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::admission::Allowances;
use crate::contract::{CommunicationIdentifier, ConfigEntry};
use crate::executor::TenantRuntime;
use crate::runtime::{Limits, Plugin, Runtime};
use crate::store::{Store, StoreError};

/// Why a call has nobody to answer it (logged, and the call is rejected).
#[derive(Debug, thiserror::Error)]
pub enum Unrouted {
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("tenant `{0}` is disabled")]
    Disabled(String),
    #[error("plugin `{plugin}` of tenant `{tenant}` has no active version")]
    NoActiveVersion { tenant: String, plugin: String },
    #[error("plugin version {sha256} could not be loaded: {message}")]
    Load { sha256: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The address a call was placed to, as routes name it.
fn address(to: &CommunicationIdentifier) -> &str {
    match to {
        CommunicationIdentifier::PhoneNumber(number) => number,
        CommunicationIdentifier::AcsUser(id) | CommunicationIdentifier::Raw(id) => id,
        CommunicationIdentifier::TeamsUser(user) => &user.user_id,
    }
}

/// The tenants of the config file, by the addresses they answer.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_address: HashMap<String, TenantRuntime>,
}

impl Routes {
    pub fn add(&mut self, address: &str, tenant: TenantRuntime) {
        self.by_address.insert(address.to_owned(), tenant);
    }

    #[must_use]
    pub fn route(&self, to: &CommunicationIdentifier) -> Option<&TenantRuntime> {
        self.by_address.get(address(to))
    }

    fn by_id(&self, id: &str) -> Option<&TenantRuntime> {
        self.by_address.values().find(|t| t.id == id)
    }
}

/// Routes calls to tenants.
#[derive(Debug)]
pub struct Directory {
    store: Store,
    runtime: Arc<Runtime>,
    /// Tenants of the config file.
    configured: Routes,
    default_limits: Limits,
    loaded: Mutex<HashMap<String, Plugin>>,
}

impl Directory {
    #[must_use]
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        configured: Routes,
        default_limits: Limits,
    ) -> Self {
        Self {
            store,
            runtime,
            configured,
            default_limits,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant (with its plugin version pinned) that answers calls to `to`.
    pub async fn route(&self, to: &CommunicationIdentifier) -> Result<TenantRuntime, Unrouted> {
        if let Some(tenant) = self.configured.route(to) {
            return Ok(tenant.clone());
        }
        let address = address(to);
        let route = self
            .store
            .resolve_route(address)
            .await?
            .ok_or_else(|| Unrouted::NoRoute(address.to_owned()))?;
        let tenant = self.store.tenant(&route.tenant_id).await?;
        if tenant.disabled {
            return Err(Unrouted::Disabled(tenant.id));
        }
        let record = self.store.plugin(&tenant.id, &route.plugin).await?;
        let sha256 = record.active.ok_or_else(|| Unrouted::NoActiveVersion {
            tenant: tenant.id.clone(),
            plugin: route.plugin.clone(),
        })?;
        let plugin = self.plugin(&tenant.id, &sha256).await?;
        self.runtime_of(tenant, plugin).await
    }

    /// The tenant of a call that continues here (after a restart, or from another
    /// replica), with the plugin version the call is pinned to. A tenant of the config
    /// file runs the plugin the file names now.
    pub async fn tenant_at(
        &self,
        tenant_id: &str,
        sha256: &str,
    ) -> Result<TenantRuntime, Unrouted> {
        if let Some(tenant) = self.configured.by_id(tenant_id) {
            if tenant.plugin.digest() != sha256 {
                tracing::warn!(tenant = tenant_id, pinned = %sha256, now = %tenant.plugin.digest(), "directory.tenant_at: the config file names another plugin now; the call continues on it");
            }
            return Ok(tenant.clone());
        }
        let tenant = self.store.tenant(tenant_id).await?;
        let plugin = self.plugin(tenant_id, sha256).await?;
        self.runtime_of(tenant, plugin).await
    }

    async fn runtime_of(
        &self,
        tenant: crate::store::tenants::Tenant,
        plugin: Plugin,
    ) -> Result<TenantRuntime, Unrouted> {
        let secrets = self.store.tenant_secrets(&tenant.id).await?;
        Ok(TenantRuntime {
            id: tenant.id,
            plugin,
            config: tenant
                .config
                .into_iter()
                .chain(secrets)
                .map(|(key, value)| ConfigEntry { key, value })
                .collect(),
            limits: tenant.limits.unwrap_or(self.default_limits),
            allowances: Allowances::default(),
        })
    }

    async fn plugin(&self, tenant: &str, sha256: &str) -> Result<Plugin, Unrouted> {
        if let Some(plugin) = self.lock().get(sha256) {
            return Ok(plugin.clone());
        }
        let bytes = self.store.plugin_bytes(tenant, sha256).await?;
        let runtime = Arc::clone(&self.runtime);
        let plugin = tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|e| Unrouted::Load {
                sha256: sha256.to_owned(),
                message: e.to_string(),
            })?
            .map_err(|e| Unrouted::Load {
                sha256: sha256.to_owned(),
                message: e.to_string(),
            })?;
        self.lock().insert(sha256.to_owned(), plugin.clone());
        Ok(plugin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Plugin>> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
