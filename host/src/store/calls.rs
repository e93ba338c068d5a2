//! The invocation log: each event a host handled on a call (what came, what the plugin
//! decided, which actions ran, how long it took), written by a background task from
//! the executor's journal, read by `switchboard calls list|show`.

use sqlx::Row as _;

use super::{Result, Store, StoreError};
use crate::contract::{ActionRequest, Context, Event};

/// One event a host handled, as the invocation log keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallEvent {
    pub tenant: String,
    pub server_call_id: String,
    /// 1, 2, 3… per call, in the order handled.
    pub seq: u32,
    /// When handling started (Unix milliseconds).
    pub at_ms: i64,
    /// The event's name (`CallConnected`, `ActionFailed`…).
    pub event: String,
    /// The plugin's outcome (`decision`, `deadline-exceeded`…), or `fallback` when the
    /// call was already in fallback.
    pub outcome: String,
    /// Whether the fallback decided, not the plugin.
    pub fallback: bool,
    /// The actions run, by kind; the last one failed if `failed` is set.
    pub actions: Vec<String>,
    pub failed: Option<String>,
    /// The plugin's time, and the whole event's (actions included), in µs.
    pub plugin_us: u64,
    pub total_us: u64,
    /// What the plugin was given and decided, when it was invoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
}

/// One invocation as a replay needs it: the event and context the plugin was given,
/// and the actions it decided (`None`: it failed).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub event: Event,
    pub context: Context,
    pub decision: Option<Vec<ActionRequest>>,
}

/// A call, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallSummary {
    pub server_call_id: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: i64,
}

impl Store {
    /// Appends handled events, many rows per statement (the same call and seq again:
    /// ignored).
    pub async fn record_call_events(&self, events: &[CallEvent]) -> Result<()> {
        for chunk in events.chunks(ROWS_PER_INSERT) {
            insert(self, chunk).await?;
        }
        Ok(())
    }

    /// A tenant's most recent calls (at most `limit`), newest first.
    pub async fn calls(&self, tenant_id: &str, limit: i64) -> Result<Vec<CallSummary>> {
        self.tenant(tenant_id).await?;
        sqlx::query(
            "SELECT server_call_id, MIN(at_ms) AS first_ms, MAX(at_ms) AS last_ms, COUNT(*) AS events \
             FROM call_events WHERE tenant_id = $1 GROUP BY server_call_id ORDER BY first_ms DESC LIMIT $2",
        )
        .bind(tenant_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(CallSummary {
                server_call_id: row.try_get("server_call_id")?,
                first_ms: row.try_get("first_ms")?,
                last_ms: row.try_get("last_ms")?,
                events: row.try_get("events")?,
            })
        })
        .collect()
    }

    /// One of a tenant's calls, event by event.
    pub async fn call_events(
        &self,
        tenant_id: &str,
        server_call_id: &str,
    ) -> Result<Vec<CallEvent>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, event, outcome, fallback, actions, failed, plugin_us, total_us, recorded \
             FROM call_events WHERE tenant_id = $1 AND server_call_id = $2 ORDER BY seq",
        )
        .bind(tenant_id)
        .bind(server_call_id)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("call {server_call_id}")));
        }
        rows.iter()
            .map(|row| {
                let actions: String = row.try_get("actions")?;
                Ok(CallEvent {
                    tenant: tenant_id.to_owned(),
                    server_call_id: server_call_id.to_owned(),
                    seq: u32::try_from(row.try_get::<i64, _>("seq")?).unwrap_or(u32::MAX),
                    at_ms: row.try_get("at_ms")?,
                    event: row.try_get("event")?,
                    outcome: row.try_get("outcome")?,
                    fallback: row.try_get::<i64, _>("fallback")? != 0,
                    actions: serde_json::from_str(&actions).unwrap_or_default(),
                    failed: row.try_get("failed")?,
                    plugin_us: u64::try_from(row.try_get::<i64, _>("plugin_us")?).unwrap_or(0),
                    total_us: u64::try_from(row.try_get::<i64, _>("total_us")?).unwrap_or(0),
                    recorded: row
                        .try_get::<Option<String>, _>("recorded")?
                        .and_then(|json| serde_json::from_str(&json).ok()),
                })
            })
            .collect()
    }
}

/// Rows per INSERT: 12 parameters each, well under both databases' limits.
const ROWS_PER_INSERT: usize = 256;

async fn insert(store: &Store, events: &[CallEvent]) -> Result<()> {
    let mut sql = String::from(
        "INSERT INTO call_events (server_call_id, seq, tenant_id, at_ms, event, outcome, fallback, actions, failed, plugin_us, total_us, recorded) VALUES ",
    );
    for row in 0..events.len() {
        let p = row * 12;
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 1..=12 {
            if column > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", p + column));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (server_call_id, seq) DO NOTHING");
    let mut query = sqlx::query(&sql);
    for event in events {
        query = query
            .bind(event.server_call_id.clone())
            .bind(i64::from(event.seq))
            .bind(event.tenant.clone())
            .bind(event.at_ms)
            .bind(event.event.clone())
            .bind(event.outcome.clone())
            .bind(i64::from(event.fallback))
            .bind(serde_json::to_string(&event.actions).unwrap_or_else(|_| "[]".into()))
            .bind(event.failed.clone())
            .bind(i64::try_from(event.plugin_us).unwrap_or(i64::MAX))
            .bind(i64::try_from(event.total_us).unwrap_or(i64::MAX))
            .bind(
                event
                    .recorded
                    .as_ref()
                    .and_then(|r| serde_json::to_string(r).ok()),
            );
    }
    query.execute(store.pool()).await?;
    Ok(())
}
