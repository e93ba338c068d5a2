//! Plugins and their versions. A version is a component, stored once by its SHA-256
//! (two tenants uploading the same bytes share the blob) and immutable. A plugin has
//! an active version and remembers the one before it, so a rollback is one step.
//! Validating a component (it compiles, fits the world, passes a smoke invocation) is
//! the caller's job, before [`Store::add_plugin_version`].

use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use super::{Result, Store, StoreError, check_id, now_ms};

/// A plugin of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginRecord {
    pub tenant_id: String,
    pub name: String,
    /// SHA-256 (hex) of the active version.
    pub active: Option<String>,
    /// The version active before it (what a rollback returns to).
    pub previous: Option<String>,
    pub versions: Vec<Version>,
}

/// One uploaded version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    pub sha256: String,
    pub size: i64,
    pub created_ms: i64,
}

/// SHA-256 of a component, hex: its version id.
#[must_use]
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Stores a validated component as a version of a tenant's plugin (creating the
    /// plugin on its first version). The same bytes again: the same version, no error.
    pub async fn add_plugin_version(
        &self,
        tenant_id: &str,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<Version> {
        check_id("plugin", plugin)?;
        self.tenant(tenant_id).await?;
        let sha256 = digest(bytes);
        let now = now_ms();
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(bytes.to_vec())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO plugins (tenant_id, name, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(plugin)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO plugin_versions (tenant_id, plugin, sha256, size, created_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, plugin, sha256) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(plugin)
        .bind(&sha256)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT size, created_ms FROM plugin_versions WHERE tenant_id = $1 AND plugin = $2 AND sha256 = $3",
        )
        .bind(tenant_id)
        .bind(plugin)
        .bind(&sha256)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Version {
            sha256,
            size: row.try_get("size")?,
            created_ms: row.try_get("created_ms")?,
        })
    }

    /// A tenant's plugin with its versions (oldest first).
    pub async fn plugin(&self, tenant_id: &str, plugin: &str) -> Result<PluginRecord> {
        let row =
            sqlx::query("SELECT active, previous FROM plugins WHERE tenant_id = $1 AND name = $2")
                .bind(tenant_id)
                .bind(plugin)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("plugin `{plugin}`")))?;
        let versions = sqlx::query(
            "SELECT sha256, size, created_ms FROM plugin_versions \
             WHERE tenant_id = $1 AND plugin = $2 ORDER BY created_ms, sha256",
        )
        .bind(tenant_id)
        .bind(plugin)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|v| {
            Ok(Version {
                sha256: v.try_get("sha256")?,
                size: v.try_get("size")?,
                created_ms: v.try_get("created_ms")?,
            })
        })
        .collect::<Result<_>>()?;
        Ok(PluginRecord {
            tenant_id: tenant_id.to_owned(),
            name: plugin.to_owned(),
            active: row.try_get("active")?,
            previous: row.try_get("previous")?,
            versions,
        })
    }

    /// A tenant's plugins, by name.
    pub async fn plugins(&self, tenant_id: &str) -> Result<Vec<PluginRecord>> {
        self.tenant(tenant_id).await?;
        let names: Vec<String> =
            sqlx::query("SELECT name FROM plugins WHERE tenant_id = $1 ORDER BY name")
                .bind(tenant_id)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        let mut plugins = Vec::with_capacity(names.len());
        for name in names {
            plugins.push(self.plugin(tenant_id, &name).await?);
        }
        Ok(plugins)
    }

    /// Makes a version active (the one active until now becomes `previous`). Calls in
    /// progress keep the version they started with; new calls get this one.
    pub async fn activate(
        &self,
        tenant_id: &str,
        plugin: &str,
        sha256: &str,
    ) -> Result<PluginRecord> {
        let known = sqlx::query(
            "SELECT 1 FROM plugin_versions WHERE tenant_id = $1 AND plugin = $2 AND sha256 = $3",
        )
        .bind(tenant_id)
        .bind(plugin)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!(
                "version {sha256} of plugin `{plugin}`"
            )));
        }
        sqlx::query(
            "UPDATE plugins SET previous = CASE WHEN active = $1 THEN previous ELSE active END, active = $1 \
             WHERE tenant_id = $2 AND name = $3",
        )
        .bind(sha256)
        .bind(tenant_id)
        .bind(plugin)
        .execute(self.pool())
        .await?;
        self.plugin(tenant_id, plugin).await
    }

    /// Goes back to the version active before the current one (they swap, so a second
    /// rollback undoes the first).
    pub async fn rollback(&self, tenant_id: &str, plugin: &str) -> Result<PluginRecord> {
        let record = self.plugin(tenant_id, plugin).await?;
        if record.previous.is_none() {
            return Err(StoreError::Conflict(format!(
                "plugin `{plugin}` has no previous version to roll back to"
            )));
        }
        sqlx::query(
            "UPDATE plugins SET active = previous, previous = active WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(plugin)
        .execute(self.pool())
        .await?;
        self.plugin(tenant_id, plugin).await
    }

    /// A component's bytes by SHA-256, if this tenant has a version with it (another
    /// tenant's identical upload does not make it this tenant's).
    pub async fn plugin_bytes(&self, tenant_id: &str, sha256: &str) -> Result<Vec<u8>> {
        let row = sqlx::query(
            "SELECT b.bytes FROM blobs b JOIN plugin_versions v ON v.sha256 = b.sha256 \
             WHERE v.tenant_id = $1 AND b.sha256 = $2 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("version {sha256}")))?;
        Ok(row.try_get(0)?)
    }
}
