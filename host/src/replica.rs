//! This replica's share of the calls in the store: at start it takes its lease, then
//! takes back the calls recorded as its own (a restart) and any whose owner's lease
//! ran out; then, until stopped, it renews its lease (one row, however many calls it
//! has), takes over calls of replicas that stopped renewing,
//! picks up events whose wake-up went astray, forgets calls long ended, and (on
//! PostgreSQL) listens for wake-ups from replicas that received its calls' events.

use std::sync::Arc;
use std::time::Duration;

use crate::directory::Directory;
use crate::executor::{Durable, Executor};
use crate::store::live::{ClaimedCall, waiting_ids};
use crate::store::wake::{WakeUp, wake_channel};
use crate::store::{Backend, now_ms};

/// How many calls one claim takes at most (the rest at the next tick).
const CLAIM_BATCH: i64 = 500;
/// How long ended calls are kept (their tokens answer late events with 200).
const KEEP_ENDED_MS: i64 = 3_600_000;
/// An inbox event not taken this long after it arrived is looked for.
const STRAGGLER_US: i64 = 500_000;

/// Runs this replica's part; stops when dropped.
#[derive(Debug)]
pub struct Replica {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    durable: Durable,
}

impl Replica {
    /// Takes back this replica's calls and the orphaned ones, then starts the
    /// background work.
    pub async fn start(
        executor: Executor,
        directory: Arc<Directory>,
        durable: Durable,
        store_url: &str,
    ) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        // Before any call here is recorded: a call whose owner holds no lease is
        // anybody's to claim.
        durable
            .store
            .renew_lease(&durable.replica, lease_until(&durable))
            .await?;
        if durable.store.backend() == Backend::Postgres {
            // Listening before claiming: no wake-up for a claimed call is missed.
            let mut listener = sqlx::postgres::PgListener::connect(store_url).await?;
            listener.listen(&wake_channel(&durable.replica)).await?;
            let executor = executor.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(notification) => {
                            for wake in WakeUp::parse_all(notification.payload()) {
                                take_wake_up(&executor, wake);
                            }
                        }
                        Err(e) => {
                            // PgListener reconnects on the next recv.
                            tracing::warn!(error = %e, "replica.listen");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }));
        }
        let resumed = claim(&executor, &directory, &durable, true).await?;
        if resumed > 0 {
            tracing::info!(calls = resumed, replica = %durable.replica, "replica.start: calls continued from the store");
        }
        tasks.push(tokio::spawn(tend(executor, directory, durable.clone())));
        Ok(Self { tasks, durable })
    }

    /// Stops the background work and lets other replicas take this one's calls at
    /// once (a graceful stop: the calls go on elsewhere, or here after a restart).
    pub async fn release(self) {
        for task in &self.tasks {
            task.abort();
        }
        match self
            .durable
            .store
            .release_lease(&self.durable.replica)
            .await
        {
            Ok(calls) if calls > 0 => {
                tracing::info!(
                    calls,
                    "replica.release: live calls left to the other replicas"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "replica.release"),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A wake-up from a replica that put an event in the inbox of a call this one owns.
fn take_wake_up(executor: &Executor, wake: WakeUp<'_>) {
    match wake {
        // What came before it is here already: taken alone.
        WakeUp {
            token,
            event: Some(event),
            after,
        } if executor.seen_all(token, waiting_ids(after)) => executor.push_stored(token, [event]),
        // The inbox read, in order: an event named as waiting before it has not come
        // here yet (a catch-up), or the event did not fit in the notification.
        WakeUp { token, event, .. } => {
            let executor = executor.clone();
            let token = token.to_owned();
            let catch_up = event.is_some();
            tokio::spawn(async move {
                if catch_up {
                    executor.catch_up(&token).await;
                } else {
                    executor.wake(&token).await;
                }
            });
        }
    }
}

/// Claims calls (`own`: this replica's whatever their lease) and continues them here;
/// how many.
async fn claim(
    executor: &Executor,
    directory: &Directory,
    durable: &Durable,
    own: bool,
) -> anyhow::Result<usize> {
    let claimed = durable
        .store
        .claim_live_calls(&durable.replica, now_ms(), own, CLAIM_BATCH)
        .await?;
    let count = claimed.len();
    for call in claimed {
        if let Err(e) = resume(executor, directory, call).await {
            tracing::error!(error = %e, "replica.claim: a call could not be continued");
        }
    }
    Ok(count)
}

async fn resume(
    executor: &Executor,
    directory: &Directory,
    call: ClaimedCall,
) -> anyhow::Result<()> {
    if executor.handles(&call.token) {
        return Ok(());
    }
    let tenant = directory
        .tenant_at(&call.tenant_id, &call.plugin_sha256)
        .await?;
    tracing::info!(tenant = %call.tenant_id, "replica.resume");
    executor.resume(tenant, call).await
}

/// The periodic work: leases, takeovers, stragglers, old calls.
async fn tend(executor: Executor, directory: Arc<Directory>, durable: Durable) {
    let tick = (durable.lease / 3).max(Duration::from_millis(100));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        interval.tick().await;
        ticks += 1;
        if let Err(e) = durable
            .store
            .renew_lease(&durable.replica, lease_until(&durable))
            .await
        {
            tracing::warn!(error = %e, "replica.renew");
        }
        match claim(&executor, &directory, &durable, false).await {
            Ok(0) => {}
            Ok(calls) => tracing::info!(
                calls,
                "replica.takeover: calls of a stopped replica continued here"
            ),
            Err(e) => tracing::warn!(error = %e, "replica.takeover"),
        }
        let before = now_us() - STRAGGLER_US;
        match durable
            .store
            .inbox_stragglers(&durable.replica, before)
            .await
        {
            Ok(rows) => {
                for (token, body) in rows {
                    executor.push_stored(&token, [body]);
                }
            }
            Err(e) => tracing::warn!(error = %e, "replica.stragglers"),
        }
        if ticks.is_multiple_of(100)
            && let Err(e) = durable
                .store
                .sweep_ended_calls(now_ms() - KEEP_ENDED_MS)
                .await
        {
            tracing::warn!(error = %e, "replica.sweep");
        }
    }
}

/// When a lease taken now runs out.
fn lease_until(durable: &Durable) -> i64 {
    now_ms().saturating_add(i64::try_from(durable.lease.as_millis()).unwrap_or(i64::MAX))
}

fn now_us() -> i64 {
    now_ms().saturating_mul(1000)
}
