//! Routes: a phone number (E.164) or an ACS identity (raw id, `8:acs:…`) → the tenant
//! and plugin that answer calls to it. An address belongs to one tenant.

use sqlx::Row as _;

use super::{Result, Store, StoreError, conflict, now_ms};

/// Where calls to an address go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    pub address: String,
    pub tenant_id: String,
    pub plugin: String,
    pub created_ms: i64,
}

/// Whether `address` is an E.164 number (`+` and 7–15 digits) or an ACS raw id.
pub fn check_address(address: &str) -> Result<()> {
    let e164 = address
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    let acs = (address.starts_with("8:acs:") || address.starts_with("8:spool:"))
        && address.len() <= 256
        && !address.contains(char::is_whitespace);
    if e164 || acs {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "route address `{address}`: expected an E.164 number (+18005550100) or an ACS identity (8:acs:…)"
        )))
    }
}

impl Store {
    /// Routes calls to `address` to a tenant's plugin (which must exist).
    pub async fn add_route(&self, tenant_id: &str, address: &str, plugin: &str) -> Result<Route> {
        check_address(address)?;
        self.plugin(tenant_id, plugin).await?;
        let created_ms = now_ms();
        sqlx::query(
            "INSERT INTO routes (address, tenant_id, plugin, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(address)
        .bind(tenant_id)
        .bind(plugin)
        .bind(created_ms)
        .execute(self.pool())
        .await
        // Whoever holds it, the answer is the same: it is taken.
        .map_err(|e| conflict(e, || format!("address {address} is already routed")))?;
        Ok(Route {
            address: address.to_owned(),
            tenant_id: tenant_id.to_owned(),
            plugin: plugin.to_owned(),
            created_ms,
        })
    }

    /// Removes one of a tenant's routes.
    pub async fn remove_route(&self, tenant_id: &str, address: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM routes WHERE address = $1 AND tenant_id = $2")
            .bind(address)
            .bind(tenant_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("route {address}")));
        }
        Ok(())
    }

    /// A tenant's routes, by address.
    pub async fn routes(&self, tenant_id: &str) -> Result<Vec<Route>> {
        self.tenant(tenant_id).await?;
        sqlx::query(
            "SELECT address, tenant_id, plugin, created_ms FROM routes WHERE tenant_id = $1 ORDER BY address",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(route_of)
        .collect()
    }

    /// Where a call to `address` goes, if anywhere (any tenant: this is ingress).
    pub async fn resolve_route(&self, address: &str) -> Result<Option<Route>> {
        sqlx::query("SELECT address, tenant_id, plugin, created_ms FROM routes WHERE address = $1")
            .bind(address)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(route_of)
            .transpose()
    }
}

fn route_of(row: &sqlx::any::AnyRow) -> Result<Route> {
    Ok(Route {
        address: row.try_get("address")?,
        tenant_id: row.try_get("tenant_id")?,
        plugin: row.try_get("plugin")?,
        created_ms: row.try_get("created_ms")?,
    })
}
