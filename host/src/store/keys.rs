//! Tenant API keys. A key reads `sbk_<id>_<secret>`: the id finds the row, the secret
//! (32 random bytes) is checked against its SHA-256 in constant time. Only the hash is
//! stored; the key is shown once, when created. A random 256-bit secret needs no slow
//! password hash: nothing guessable is being protected.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use super::{Result, Store, StoreError, now_ms};

const PREFIX: &str = "sbk_";

/// A key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// A key just created: the only time its full text exists outside its holder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewKey {
    pub key: ApiKey,
    /// `sbk_<id>_<secret>`: give it to the tenant; it cannot be shown again.
    pub secret: String,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The id and secret of a key's text, if it has the shape of one.
fn split(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

impl Store {
    /// Creates a key for a tenant.
    pub async fn create_key(&self, tenant_id: &str) -> Result<NewKey> {
        self.tenant(tenant_id).await?;
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        rand::thread_rng().fill_bytes(&mut secret);
        let (id, secret) = (hex::encode(id), B64URL.encode(secret));
        let created_ms = now_ms();
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, secret_hash, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(hash(&secret))
        .bind(created_ms)
        .execute(self.pool())
        .await?;
        Ok(NewKey {
            secret: format!("{PREFIX}{id}_{secret}"),
            key: ApiKey {
                id,
                tenant_id: tenant_id.to_owned(),
                created_ms,
                revoked_ms: None,
            },
        })
    }

    /// The tenant a key belongs to, if the key is genuine, not revoked, and its tenant
    /// not disabled. `None` for anything else, without saying which.
    pub async fn authenticate_key(&self, text: &str) -> Result<Option<String>> {
        let Some((id, secret)) = split(text) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT k.tenant_id, k.secret_hash, k.revoked_ms, t.disabled \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        // Hash even when there is no row, so timing does not tell ids apart.
        let presented = hash(secret);
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: String = row.try_get("secret_hash")?;
        let matches: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
        let revoked = row.try_get::<Option<i64>, _>("revoked_ms")?.is_some();
        let disabled = row.try_get::<i64, _>("disabled")? != 0;
        Ok((matches && !revoked && !disabled)
            .then(|| row.try_get("tenant_id"))
            .transpose()?)
    }

    /// A tenant's keys, newest first.
    pub async fn keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>> {
        self.tenant(tenant_id).await?;
        let rows = sqlx::query(
            "SELECT id, tenant_id, created_ms, revoked_ms FROM api_keys WHERE tenant_id = $1 ORDER BY created_ms DESC, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiKey {
                    id: row.try_get("id")?,
                    tenant_id: row.try_get("tenant_id")?,
                    created_ms: row.try_get("created_ms")?,
                    revoked_ms: row.try_get("revoked_ms")?,
                })
            })
            .collect()
    }

    /// Revokes one of a tenant's keys (revoking twice is not an error).
    pub async fn revoke_key(&self, tenant_id: &str, key_id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2 AND tenant_id = $3",
        )
        .bind(now_ms())
        .bind(key_id)
        .bind(tenant_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("key `{key_id}`")));
        }
        Ok(())
    }
}
