//! Calls in progress: each call's durable state, the replica that owns it (with a
//! lease), and its inbox of accepted events. What a host needs to continue a call
//! after `kill -9`, and what lets any replica accept any callback:
//!
//! - the owner saves the call's state (with the decision's actions and their
//!   repeatability ids) and marks the event done in one transaction *before* it runs
//!   the actions ([`Store::save_live_call`]); a save by a replica that lost the call
//!   changes nothing (fencing);
//! - whichever replica receives a callback puts it in the inbox (a redelivery of an
//!   event already there is a duplicate, across replicas) and, if another replica
//!   owns the call, wakes it ([`Store::notify`], PostgreSQL `NOTIFY`);
//! - each replica renews its one lease ([`Store::renew_lease`]); the calls of a
//!   replica whose lease ran out are claimed by another ([`Store::claim_live_calls`]),
//!   which continues them from their state.

use std::sync::LazyLock;

use sqlx::Row as _;

use super::{Backend, Result, Store};

/// A call starting on this replica.
#[derive(Debug, Clone, Copy)]
pub struct NewLiveCall<'a> {
    pub token: &'a str,
    pub incoming_event: &'a str,
    pub tenant_id: &'a str,
    pub plugin_sha256: &'a str,
    pub server_call_id: &'a str,
    /// Holds a lease ([`Store::renew_lease`]); the call of a replica without one is
    /// claimable at once.
    pub owner: &'a str,
    pub state: &'a str,
    /// The IncomingCall, the inbox's first event: a host that stops before deciding
    /// on it decides on restart.
    pub first_event: InboxEvent<'a>,
}

/// An event accepted for a call.
#[derive(Debug, Clone, Copy)]
pub struct InboxEvent<'a> {
    pub id: &'a str,
    /// Unix microseconds at the receiving host: the inbox's order on SQLite (one
    /// host). PostgreSQL orders by its own clock ([`DB_NOW_US`]).
    pub at_us: i64,
    /// JSON.
    pub body: &'a str,
}

/// A call this replica took over (or took back after a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedCall {
    pub token: String,
    pub tenant_id: String,
    pub plugin_sha256: String,
    pub state: String,
}

/// Who handles a call, as a replica that received one of its events sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOwner {
    /// Live, owned by this replica.
    Live {
        owner: String,
        server_call_id: String,
    },
    /// Over: late events need nothing.
    Ended,
    /// No such call.
    Unknown,
}

/// What became of an event handed over to a call's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// In the inbox; the owner was woken (unless it is the caller).
    Accepted {
        owner: String,
    },
    /// Already in the inbox.
    Duplicate,
    Ended,
    Unknown,
    /// The event is about another call than the token's: refused, not stored.
    Foreign,
}

/// What became of an event the call's owner put in the call's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// In the inbox. `after`: ids of the call's events that were in the inbox and not
    /// handled when this one went in, the events the call must see before it. On
    /// PostgreSQL another replica may have put one there (and answered the service,
    /// which then sent this one) before its wake-up reached the owner. On SQLite one
    /// host receives every event, so nothing can be there that it has not seen: empty.
    Queued { after: Vec<String> },
    /// Already there: a redelivery, or put there by a replica that stopped before it
    /// woke the owner ([`Store::inbox_waiting`] tells which).
    Already,
}

/// The database's clock in Unix microseconds, in SQL: on PostgreSQL the inbox is
/// ordered by it, one clock for every replica (a replica's own clock may be skewed,
/// and two events of one call may reach two replicas less than a millisecond apart).
const DB_NOW_US: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// The call's events in the inbox not handled yet, in SQL for a `WITH` clause: seen by
/// a statement's snapshot, so without the event the statement inserts.
const WAITING_BEFORE: &str =
    "before AS (SELECT event_id FROM call_inbox WHERE token = $1 AND done = 0)";
/// Their ids as one text, apart by commas ([`waiting_ids`] reads it back).
const WAITING_IDS: &str = "COALESCE((SELECT string_agg(event_id, ',') FROM before), '')";

/// A hand-over on PostgreSQL, one statement: the call's owner looked up, the event
/// put in its inbox (unless the call ended or is another one), and the ids of the
/// events that waited before it. Built once: it runs for most events.
static HANDOVER_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH c AS (SELECT owner, ended, server_call_id FROM live_calls WHERE token = $1), \
         {WAITING_BEFORE}, \
         ins AS (INSERT INTO call_inbox (token, event_id, at_us, body) \
           SELECT $1, $2, {DB_NOW_US}, $3 FROM c WHERE c.ended = 0 AND ($4 = '' OR c.server_call_id = $4) \
           ON CONFLICT (token, event_id) DO NOTHING RETURNING 1) \
         SELECT c.owner, c.ended, c.server_call_id, (SELECT COUNT(*) FROM ins) AS inserted, \
           {WAITING_IDS} AS after FROM c"
    )
});

/// The owner's own insert on PostgreSQL, with the ids of the events that waited
/// before it.
static OWNER_PUSH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {WAITING_BEFORE}, \
         ins AS (INSERT INTO call_inbox (token, event_id, at_us, body) VALUES ($1, $2, {DB_NOW_US}, $3) \
           ON CONFLICT (token, event_id) DO NOTHING RETURNING 1) \
         SELECT (SELECT COUNT(*) FROM ins) AS inserted, {WAITING_IDS} AS after"
    )
});

/// The ids in a [`WAITING_IDS`] text. An id that itself holds a comma comes back in
/// pieces that match no event: the caller then reads the inbox, which is safe.
pub fn waiting_ids(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').filter(|id| !id.is_empty())
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Saved,
    /// Another replica owns the call now: this one must stop handling it.
    NotOwner,
}

impl Store {
    /// Records a call that started here; `false` if this ring is already a call
    /// (the same IncomingCall reached another replica, or came again).
    pub async fn create_live_call(&self, call: NewLiveCall<'_>) -> Result<bool> {
        let now = super::now_ms();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "INSERT INTO live_calls (token, incoming_event, tenant_id, plugin_sha256, server_call_id, owner, state, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (incoming_event) DO NOTHING",
        )
        .bind(call.token)
        .bind(call.incoming_event)
        .bind(call.tenant_id)
        .bind(call.plugin_sha256)
        .bind(call.server_call_id)
        .bind(call.owner)
        .bind(call.state)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        push(&mut tx, self.backend(), call.token, call.first_event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Saves a call's state and marks `done_event` handled, in one transaction, if
    /// `owner` still owns the call.
    pub async fn save_live_call(
        &self,
        token: &str,
        owner: &str,
        state: &str,
        done_event: Option<&str>,
        ended: bool,
    ) -> Result<Saved> {
        if self.backend() == Backend::Postgres {
            // One statement, one round trip: atomic all the same.
            let saved: i64 = sqlx::query_scalar(
                "WITH saved AS (UPDATE live_calls SET state = $1, ended = $2, updated_ms = $3 \
                   WHERE token = $4 AND owner = $5 RETURNING token), \
                 done AS (UPDATE call_inbox SET done = 1 \
                   WHERE token = $4 AND event_id = $6 AND EXISTS (SELECT 1 FROM saved) RETURNING 1) \
                 SELECT COUNT(*) FROM saved",
            )
            .bind(state)
            .bind(i64::from(ended))
            .bind(super::now_ms())
            .bind(token)
            .bind(owner)
            .bind(done_event.unwrap_or(""))
            .fetch_one(self.pool())
            .await?;
            return Ok(if saved == 1 {
                Saved::Saved
            } else {
                Saved::NotOwner
            });
        }
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE live_calls SET state = $1, ended = $2, updated_ms = $3 WHERE token = $4 AND owner = $5",
        )
        .bind(state)
        .bind(i64::from(ended))
        .bind(super::now_ms())
        .bind(token)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Saved::NotOwner);
        }
        if let Some(event) = done_event {
            sqlx::query("UPDATE call_inbox SET done = 1 WHERE token = $1 AND event_id = $2")
                .bind(token)
                .bind(event)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Saved::Saved)
    }

    /// Who handles the call with this token.
    pub async fn live_call_owner(&self, token: &str) -> Result<CallOwner> {
        let row =
            sqlx::query("SELECT owner, ended, server_call_id FROM live_calls WHERE token = $1")
                .bind(token)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            None => CallOwner::Unknown,
            Some(row) if row.try_get::<i64, _>("ended")? != 0 => CallOwner::Ended,
            Some(row) => CallOwner::Live {
                owner: row.try_get("owner")?,
                server_call_id: row.try_get("server_call_id")?,
            },
        })
    }

    /// An event received for a call this replica (`me`) does not run: into the call's
    /// inbox, and its owner woken (with the event, when it fits). On PostgreSQL one
    /// statement finds the owner and inserts; the wake-up goes apart, batched with
    /// others and committed without waiting for the WAL flush ([`super::wake`]):
    /// `NOTIFY` holds one lock for the whole database through its transaction's
    /// commit, so a `NOTIFY` in the insert's transaction would serialise every
    /// hand-over behind one disk flush at a time. A wake-up lost with the database
    /// is found by the owner's straggler sweep.
    ///
    /// `server_call_id`: the event's, if it names one; an event naming another call
    /// than the token's is [`Handover::Foreign`].
    pub async fn deliver_to_owner(
        &self,
        token: &str,
        event: InboxEvent<'_>,
        server_call_id: Option<&str>,
        me: &str,
    ) -> Result<Handover> {
        let foreign = |call: &str| server_call_id.is_some_and(|s| s != call);
        if self.backend() != Backend::Postgres {
            let owner = match self.live_call_owner(token).await? {
                CallOwner::Live { server_call_id, .. } if foreign(&server_call_id) => {
                    return Ok(Handover::Foreign);
                }
                CallOwner::Live { owner, .. } => owner,
                CallOwner::Ended => return Ok(Handover::Ended),
                CallOwner::Unknown => return Ok(Handover::Unknown),
            };
            return Ok(match self.inbox_push(token, event).await? {
                Pushed::Queued { .. } => Handover::Accepted { owner },
                Pushed::Already => Handover::Duplicate,
            });
        }
        let row = sqlx::query(&HANDOVER_SQL)
            .bind(token)
            .bind(event.id)
            .bind(event.body)
            .bind(server_call_id.unwrap_or_default())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(Handover::Unknown);
        };
        if row.try_get::<i64, _>("ended")? != 0 {
            return Ok(Handover::Ended);
        }
        if foreign(&row.try_get::<String, _>("server_call_id")?) {
            return Ok(Handover::Foreign);
        }
        if row.try_get::<i64, _>("inserted")? == 0 {
            return Ok(Handover::Duplicate);
        }
        let owner: String = row.try_get("owner")?;
        if owner != me {
            // Earlier events of the call may be waiting that the owner has not got yet
            // (their wake-ups travel on other replicas' connections and may come after
            // this one): the wake-up names them, and an owner that lacks one reads the
            // inbox, in order, rather than take this event alone.
            let after: String = row.try_get("after")?;
            self.notify(&owner, token, Some(event.body), &after);
        }
        Ok(Handover::Accepted { owner })
    }

    /// Puts an accepted event in the inbox of a call this replica owns. The caller
    /// knows the call exists.
    pub async fn inbox_push(&self, token: &str, event: InboxEvent<'_>) -> Result<Pushed> {
        if self.backend() != Backend::Postgres {
            let mut conn = self.pool().acquire().await?;
            return Ok(
                match push(&mut conn, Backend::Sqlite, token, event).await? {
                    true => Pushed::Queued { after: Vec::new() },
                    false => Pushed::Already,
                },
            );
        }
        let row = sqlx::query(&OWNER_PUSH_SQL)
            .bind(token)
            .bind(event.id)
            .bind(event.body)
            .fetch_one(self.pool())
            .await?;
        if row.try_get::<i64, _>("inserted")? == 0 {
            return Ok(Pushed::Already);
        }
        let after: String = row.try_get("after")?;
        Ok(Pushed::Queued {
            after: waiting_ids(&after).map(str::to_owned).collect(),
        })
    }

    /// Whether the call's event `event_id`, which is in its inbox, waits to be handled.
    pub async fn inbox_waiting(&self, token: &str, event_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS waiting FROM call_inbox WHERE token = $1 AND event_id = $2 AND done = 0",
        )
        .bind(token)
        .bind(event_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("waiting")? > 0)
    }

    /// The call's events not handled yet, in the order they reached the store.
    pub async fn inbox_pending(&self, token: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT body FROM call_inbox WHERE token = $1 AND done = 0 ORDER BY at_us, event_id",
        )
        .bind(token)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("body")?)).collect()
    }

    /// Events older than `before_us`, not handled, of calls `owner` owns, by token:
    /// those whose wake-up went astray (sent to the previous owner, or lost).
    pub async fn inbox_stragglers(
        &self,
        owner: &str,
        before_us: i64,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT i.token, i.body FROM call_inbox i JOIN live_calls c ON c.token = i.token \
             WHERE c.owner = $1 AND c.ended = 0 AND i.done = 0 AND i.at_us < $2 \
             ORDER BY i.token, i.at_us, i.event_id",
        )
        .bind(owner)
        .bind(before_us)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("token")?, row.try_get("body")?)))
            .collect()
    }

    /// Extends `replica`'s lease, on all the calls it owns, until `until_ms`: one row,
    /// however many calls.
    pub async fn renew_lease(&self, replica: &str, until_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO replica_leases (replica, lease_ms) VALUES ($1, $2) \
             ON CONFLICT (replica) DO UPDATE SET lease_ms = excluded.lease_ms",
        )
        .bind(replica)
        .bind(until_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lets other replicas claim `replica`'s live calls at once (a graceful stop);
    /// how many it had.
    pub async fn release_lease(&self, replica: &str) -> Result<u64> {
        self.renew_lease(replica, 0).await?;
        let calls: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM live_calls WHERE owner = $1 AND ended = 0")
                .bind(replica)
                .fetch_one(self.pool())
                .await?;
        Ok(u64::try_from(calls).unwrap_or(0))
    }

    /// Claims up to `limit` live calls whose owner's lease ran out before `now_ms`, or
    /// whose owner holds none (and, with `own`, those `owner` owns whatever its lease:
    /// a restarted replica taking its calls back). The claimer's own lease covers
    /// them from then on. Two replicas never claim the same call: the claim
    /// re-checks, on the row it updates, that the owner is still the one whose lease
    /// ran out.
    pub async fn claim_live_calls(
        &self,
        owner: &str,
        now_ms: i64,
        own: bool,
        limit: i64,
    ) -> Result<Vec<ClaimedCall>> {
        let candidates = sqlx::query(
            "SELECT c.token, c.owner FROM live_calls c WHERE c.ended = 0 AND \
             (($1 = 1 AND c.owner = $2) OR NOT EXISTS \
               (SELECT 1 FROM replica_leases r WHERE r.replica = c.owner AND r.lease_ms >= $3)) \
             LIMIT $4",
        )
        .bind(i64::from(own))
        .bind(owner)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for row in candidates {
            let token: String = row.try_get("token")?;
            let previous: String = row.try_get("owner")?;
            let row = sqlx::query(
                "UPDATE live_calls SET owner = $1 WHERE token = $2 AND ended = 0 AND owner = $3 AND \
                 ($4 = 1 OR NOT EXISTS \
                   (SELECT 1 FROM replica_leases r WHERE r.replica = $3 AND r.lease_ms >= $5)) \
                 RETURNING token, tenant_id, plugin_sha256, state",
            )
            .bind(owner)
            .bind(&token)
            .bind(&previous)
            .bind(i64::from(own && previous == owner))
            .bind(now_ms)
            .fetch_optional(self.pool())
            .await?;
            if let Some(row) = row {
                claimed.push(ClaimedCall {
                    token: row.try_get("token")?,
                    tenant_id: row.try_get("tenant_id")?,
                    plugin_sha256: row.try_get("plugin_sha256")?,
                    state: row.try_get("state")?,
                });
            }
        }
        Ok(claimed)
    }

    /// Wakes the replica `owner` for the call `token` (PostgreSQL `NOTIFY`, sent in
    /// batches by [`super::wake`]; one host on SQLite has nobody to wake), handing it
    /// the event too when it fits in a notification, with the ids of the events that
    /// were waiting before it (`after`, a [`WAITING_IDS`] text). Best effort: returns
    /// at once.
    pub fn notify(&self, owner: &str, token: &str, event: Option<&str>, after: &str) {
        if let Some(waker) = &self.waker {
            waker.wake(owner, token, event, after);
        }
    }

    /// Forgets calls that ended before `before_ms`, with their inboxes, and the
    /// leases of replicas silent since then that own no live call (replicas retired).
    pub async fn sweep_ended_calls(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM call_inbox WHERE token IN \
             (SELECT token FROM live_calls WHERE ended = 1 AND updated_ms < $1)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM live_calls WHERE ended = 1 AND updated_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM replica_leases WHERE lease_ms < $1 AND NOT EXISTS \
             (SELECT 1 FROM live_calls c WHERE c.owner = replica_leases.replica AND c.ended = 0)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Puts an event in a call's inbox; `false` if it is there already. On PostgreSQL
/// the database's clock orders it ([`DB_NOW_US`]), on SQLite the host's.
async fn push(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    token: &str,
    event: InboxEvent<'_>,
) -> Result<bool> {
    let at_us = match backend {
        Backend::Postgres => DB_NOW_US,
        Backend::Sqlite => "$3",
    };
    let done = sqlx::query(&format!(
        "INSERT INTO call_inbox (token, event_id, at_us, body) VALUES ($1, $2, {at_us}, $4) \
         ON CONFLICT (token, event_id) DO NOTHING",
    ))
    .bind(token)
    .bind(event.id)
    .bind(event.at_us)
    .bind(event.body)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `name` can name a replica: 1–40 of `a-z`, `0-9`, `-`, `_` (it becomes part
/// of a PostgreSQL channel name, [`super::wake::wake_channel`]).
pub fn check_replica(name: &str) -> Result<()> {
    super::check_id("replica", name)?;
    if name.len() > 40 {
        return Err(super::StoreError::Invalid(format!(
            "replica name `{name}`: at most 40 characters"
        )));
    }
    Ok(())
}
