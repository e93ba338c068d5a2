//! Tenants: who they are, whether they may take calls, their limits, the config and
//! secrets their plugin gets.

use std::collections::BTreeMap;

use sqlx::Row as _;

use super::{Result, Store, StoreError, check_id, conflict, now_ms};
use crate::runtime::Limits;

/// A tenant as stored. Secrets are not part of it: they are read only to build a
/// plugin's context ([`Store::tenant_secrets`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    /// Limits set for this tenant; `None`: the operator's defaults.
    pub limits: Option<Limits>,
    pub config: BTreeMap<String, String>,
    /// Names of the secrets set (never their values).
    pub secret_names: Vec<String>,
    pub created_ms: i64,
}

fn map_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

fn json_map(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl Store {
    /// Creates a tenant.
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<Tenant> {
        check_id("tenant", id)?;
        let created_ms = now_ms();
        sqlx::query("INSERT INTO tenants (id, name, created_ms) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(created_ms)
            .execute(self.pool())
            .await
            .map_err(|e| conflict(e, || format!("tenant `{id}` exists already")))?;
        self.tenant(id).await
    }

    /// One tenant.
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        let row = sqlx::query(
            "SELECT id, name, disabled, limits, config, secrets, created_ms FROM tenants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant `{id}`")))?;
        tenant_of(&row)
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(
            "SELECT id, name, disabled, limits, config, secrets, created_ms FROM tenants ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tenant_of).collect()
    }

    /// Disables (or enables again) a tenant: a disabled tenant's calls are not
    /// answered and its keys are refused.
    pub async fn set_tenant_disabled(&self, id: &str, disabled: bool) -> Result<Tenant> {
        let done = sqlx::query("UPDATE tenants SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(self.pool())
            .await?;
        self.updated(id, &done).await
    }

    /// Sets a tenant's limits (`None`: back to the operator's defaults). The caller
    /// checks them against the operator's maxima.
    pub async fn set_tenant_limits(&self, id: &str, limits: Option<&Limits>) -> Result<Tenant> {
        let text = match limits {
            Some(limits) => serde_json::to_string(limits)
                .map_err(|e| StoreError::Invalid(format!("limits: {e}")))?,
            None => "{}".to_owned(),
        };
        self.update_tenant(id, "limits", text).await
    }

    /// Replaces the config handed to the tenant's plugin.
    pub async fn set_tenant_config(
        &self,
        id: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<Tenant> {
        self.update_tenant(id, "config", map_json(config)).await
    }

    /// Replaces the secrets handed to the tenant's plugin.
    pub async fn set_tenant_secrets(
        &self,
        id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Tenant> {
        self.update_tenant(id, "secrets", map_json(secrets)).await
    }

    /// The tenant's secrets, to put in its plugin's context.
    pub async fn tenant_secrets(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let row = sqlx::query("SELECT secrets FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant `{id}`")))?;
        Ok(json_map(&row.try_get::<String, _>(0)?))
    }

    async fn update_tenant(&self, id: &str, column: &'static str, value: String) -> Result<Tenant> {
        // `column` is one of this module's constants, never input.
        let sql = format!("UPDATE tenants SET {column} = $1 WHERE id = $2");
        let done = sqlx::query(&sql)
            .bind(value)
            .bind(id)
            .execute(self.pool())
            .await?;
        self.updated(id, &done).await
    }

    /// The tenant after an update of its row (none updated: it does not exist).
    async fn updated(&self, id: &str, done: &sqlx::any::AnyQueryResult) -> Result<Tenant> {
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant `{id}`")));
        }
        self.tenant(id).await
    }
}

fn tenant_of(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    let limits: String = row.try_get("limits")?;
    let secrets = json_map(&row.try_get::<String, _>("secrets")?);
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        limits: match limits.as_str() {
            "{}" => None,
            text => Some(
                serde_json::from_str(text)
                    .map_err(|e| StoreError::Invalid(format!("stored limits: {e}")))?,
            ),
        },
        config: json_map(&row.try_get::<String, _>("config")?),
        secret_names: secrets.into_keys().collect(),
        created_ms: row.try_get("created_ms")?,
    })
}
