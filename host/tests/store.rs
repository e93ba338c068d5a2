//! The store, the same suite against SQLite (a real file) and PostgreSQL (a schema of
//! its own in the `test` database at 127.0.0.1:5432, dropped afterwards; skipped with
//! a printed reason only if no server answers).

use std::collections::BTreeMap;

use switchboard::runtime::Limits;
use switchboard::store::live::{CallOwner, Handover, InboxEvent, NewLiveCall, Pushed, Saved};
use switchboard::store::scratch::{LOCAL_POSTGRES, ScratchSchema};
use switchboard::store::wake::{WakeUp, wake_channel};
use switchboard::store::{Backend, Store, StoreError};

/// A fresh PostgreSQL schema, and a store that uses it.
async fn postgres() -> Option<(Store, ScratchSchema)> {
    let schema = scratch_schema().await?;
    Some((
        Store::open(&schema.url).await.expect("open postgres store"),
        schema,
    ))
}

/// A fresh, empty PostgreSQL schema; `None`, with the reason printed, where no server
/// answers.
async fn scratch_schema() -> Option<ScratchSchema> {
    match ScratchSchema::create(LOCAL_POSTGRES, "sb_store").await {
        Ok(schema) => Some(schema),
        Err(e) => {
            eprintln!("SKIPPED: no PostgreSQL at {LOCAL_POSTGRES}: {e}");
            None
        }
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("switchboard.db").display())
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&sqlite_url(&dir)).await.expect("open");
    suite(&store).await;
    store.close().await;
    // What was written is there after a restart.
    let again = Store::open(&sqlite_url(&dir)).await.expect("reopen");
    assert_eq!(again.tenants().await.expect("tenants").len(), 2);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(again.pool())
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn postgres_store() {
    let Some((store, schema)) = postgres().await else {
        return;
    };
    suite(&store).await;
    store.close().await;
    schema.drop().await.expect("drop schema");
}

/// A store written before leases were per replica (a lease on each call) keeps its
/// calls and their leases through the migration: each owner gets its calls' longest.
async fn per_call_leases_migrate(url: &str) {
    sqlx::any::install_default_drivers();
    let all = sqlx::migrate!("./migrations");
    let before = sqlx::migrate::Migrator {
        migrations: all
            .migrations
            .iter()
            .filter(|m| m.version < 5)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ..all
    };
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    before.run(&pool).await.expect("the migrations before 0005");
    for (token, owner, lease_ms) in [("a", "r1", 5_000), ("b", "r1", 7_000), ("c", "r2", 3_000)] {
        sqlx::query(
            "INSERT INTO live_calls (token, incoming_event, tenant_id, plugin_sha256, server_call_id, owner, lease_ms, state, updated_ms) \
             VALUES ($1, $1, 't', 'abc', $1, $2, $3, '{}', 0)",
        )
        .bind(token)
        .bind(owner)
        .bind(lease_ms)
        .execute(&pool)
        .await
        .expect("a call leased the old way");
    }
    pool.close().await;
    let store = Store::open(url).await.expect("migrate");
    store.renew_lease("r3", 100_000).await.expect("lease");
    let tokens = |claimed: Vec<switchboard::store::live::ClaimedCall>| {
        let mut tokens: Vec<String> = claimed.into_iter().map(|c| c.token).collect();
        tokens.sort();
        tokens
    };
    // r2's lease ran out at 3,000; r1's is its calls' longest, 7,000.
    let claimed = store.claim_live_calls("r3", 6_000, false, 10).await;
    assert_eq!(tokens(claimed.expect("claim")), ["c"]);
    let claimed = store.claim_live_calls("r3", 7_001, false, 10).await;
    assert_eq!(tokens(claimed.expect("claim")), ["a", "b"]);
    store.close().await;
}

#[tokio::test]
async fn sqlite_per_call_leases_migrate() {
    let dir = tempfile::tempdir().expect("tempdir");
    per_call_leases_migrate(&format!("{}?mode=rwc", sqlite_url(&dir))).await;
}

#[tokio::test]
async fn postgres_per_call_leases_migrate() {
    let Some(schema) = scratch_schema().await else {
        return;
    };
    per_call_leases_migrate(&schema.url).await;
    schema.drop().await.expect("drop schema");
}

async fn suite(store: &Store) {
    tenants(store).await;
    keys(store).await;
    plugins(store).await;
    routes(store).await;
    call_log(store).await;
    live_calls(store).await;
}

/// An inbox event whose body is its id.
fn event(id: &'static str, at_us: i64) -> InboxEvent<'static> {
    InboxEvent {
        id,
        at_us,
        body: id,
    }
}

/// Call `tok-1` (server call `server-1`), owned by replica `r1`.
fn ringing_call() -> NewLiveCall<'static> {
    NewLiveCall {
        token: "tok-1",
        incoming_event: "ring-1",
        tenant_id: "t",
        plugin_sha256: "abc",
        server_call_id: "server-1",
        owner: "r1",
        state: "{}",
        first_event: event("ring-1", 1),
    }
}

/// How many calls `replica` claims at `now_ms` (`own`: its own whatever its lease).
async fn claims(store: &Store, replica: &str, now_ms: i64, own: bool) -> usize {
    store
        .claim_live_calls(replica, now_ms, own, 10)
        .await
        .expect("claim")
        .len()
}

/// Calls in progress: one call per ring, the inbox as a cross-replica dedupe, saves
/// fenced by ownership, leases claimed once, swept when long ended.
async fn live_calls(store: &Store) {
    store.renew_lease("r1", 1_000).await.expect("lease");
    let call = ringing_call();
    assert!(store.create_live_call(call).await.expect("create"));
    // The same ring reaching another replica is not a second call.
    let again = NewLiveCall {
        token: "tok-2",
        owner: "r2",
        ..call
    };
    assert!(!store.create_live_call(again).await.expect("create again"));
    assert_eq!(
        store.live_call_owner("tok-1").await.expect("owner"),
        CallOwner::Live {
            owner: "r1".into(),
            server_call_id: "server-1".into()
        }
    );
    assert_eq!(
        store.live_call_owner("tok-2").await.expect("owner"),
        CallOwner::Unknown
    );
    // The inbox: a redelivery (to any replica) is a duplicate; pending in arrival order.
    // On PostgreSQL a push says which events were waiting before it (another replica
    // may have put them there); on SQLite one host receives every event.
    let waiting = |ids: &[&str]| match store.backend() {
        Backend::Postgres => ids.iter().map(|&id| id.to_owned()).collect(),
        Backend::Sqlite => Vec::new(),
    };
    let pushed = |pushed: Pushed| match pushed {
        Pushed::Queued { mut after } => {
            after.sort();
            Pushed::Queued { after }
        }
        Pushed::Already => Pushed::Already,
    };
    assert_eq!(
        pushed(
            store
                .inbox_push("tok-1", event("e1", 2))
                .await
                .expect("push")
        ),
        Pushed::Queued {
            after: waiting(&["ring-1"])
        }
    );
    assert_eq!(
        pushed(
            store
                .inbox_push("tok-1", event("e2", 3))
                .await
                .expect("push")
        ),
        Pushed::Queued {
            after: waiting(&["e1", "ring-1"])
        }
    );
    assert_eq!(
        store
            .inbox_push("tok-1", event("e2", 9))
            .await
            .expect("push again"),
        Pushed::Already
    );
    // Handed over by another replica: an event naming another call is refused and
    // not kept; one naming this call (or none) is.
    assert_eq!(
        store
            .deliver_to_owner("tok-1", event("f1", 4), Some("server-2"), "r2")
            .await
            .expect("hand over"),
        Handover::Foreign
    );
    assert_eq!(
        store
            .deliver_to_owner("tok-1", event("e3", 5), Some("server-1"), "r2")
            .await
            .expect("hand over"),
        Handover::Accepted { owner: "r1".into() }
    );
    assert_eq!(
        store
            .deliver_to_owner("tok-1", event("e3", 6), None, "r2")
            .await
            .expect("hand over again"),
        Handover::Duplicate
    );
    assert_eq!(
        store.inbox_pending("tok-1").await.expect("pending"),
        ["ring-1", "e1", "e2", "e3"]
    );
    // A save marks its event done, only for the owner.
    assert_eq!(
        store
            .save_live_call("tok-1", "r1", "{\"n\":1}", Some("ring-1"), false)
            .await
            .expect("save"),
        Saved::Saved
    );
    assert_eq!(
        store
            .save_live_call("tok-1", "r2", "{\"n\":2}", Some("e1"), false)
            .await
            .expect("save by another"),
        Saved::NotOwner
    );
    assert_eq!(
        store.inbox_pending("tok-1").await.expect("pending"),
        ["e1", "e2", "e3"]
    );
    let straggler = |id: &str| ("tok-1".to_owned(), id.to_owned());
    assert_eq!(
        store
            .inbox_stragglers("r1", i64::MAX)
            .await
            .expect("stragglers"),
        [straggler("e1"), straggler("e2"), straggler("e3")]
    );
    assert!(
        store
            .inbox_stragglers("r1", 0)
            .await
            .expect("no stragglers yet")
            .is_empty()
    );
    // Leases: a live lease is not taken; an expired one is, by one replica only.
    store.renew_lease("r2", 10_000).await.expect("lease");
    assert_eq!(claims(store, "r2", 500, false).await, 0);
    let claimed = store
        .claim_live_calls("r2", 2_000, false, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].state, "{\"n\":1}");
    assert_eq!(claims(store, "r3", 2_000, false).await, 0);
    // The old owner is fenced off; a restarted owner takes its own back at once.
    assert_eq!(
        store
            .save_live_call("tok-1", "r1", "{}", None, false)
            .await
            .expect("save"),
        Saved::NotOwner
    );
    assert_eq!(claims(store, "r2", 0, true).await, 1);
    // One lease covers all of a replica's calls, the claimed ones too; released,
    // they are anybody's at once.
    store.renew_lease("r2", 30_000).await.expect("renew");
    assert_eq!(claims(store, "r3", 20_000, false).await, 0);
    assert_eq!(store.release_lease("r2").await.expect("release"), 1);
    assert_eq!(claims(store, "r3", 1, false).await, 1);
    // A call whose owner holds no lease at all (`r3` never took one) is claimable.
    assert_eq!(claims(store, "r2", 1, false).await, 1);
    // Ended calls answer as such, and are swept later with their inboxes.
    store
        .save_live_call("tok-1", "r2", "{}", Some("e1"), true)
        .await
        .expect("end");
    assert_eq!(
        store.live_call_owner("tok-1").await.expect("owner"),
        CallOwner::Ended
    );
    assert_eq!(store.sweep_ended_calls(i64::MAX).await.expect("sweep"), 1);
    assert_eq!(
        store.live_call_owner("tok-1").await.expect("owner"),
        CallOwner::Unknown
    );
    assert!(
        store
            .inbox_pending("tok-1")
            .await
            .expect("pending")
            .is_empty()
    );
}

/// A listener on replica `owner`'s wake-up channel.
async fn listen_as(schema: &ScratchSchema, owner: &str) -> sqlx::postgres::PgListener {
    let mut listener = sqlx::postgres::PgListener::connect(&schema.url)
        .await
        .expect("listener");
    listener.listen(&wake_channel(owner)).await.expect("listen");
    listener
}

/// The next `n` wake-ups, as `TOKEN EVENT after [IDS]` (`-`: no event).
async fn wake_ups(listener: &mut sqlx::postgres::PgListener, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let notification =
            tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
                .await
                .expect("wake-ups within 10 s")
                .expect("notification");
        for wake in WakeUp::parse_all(notification.payload()) {
            got.push(format!(
                "{} {} after [{}]",
                wake.token,
                wake.event.unwrap_or("-"),
                wake.after
            ));
        }
    }
    got
}

/// Two events of one call handed over by two replicas: their wake-ups travel on two
/// connections and may reach the owner in either order. The second names the first,
/// still waiting when it went in: an owner that has not taken it reads the inbox,
/// where the events are in the order they reached the database.
#[tokio::test]
async fn postgres_a_hand_over_behind_a_waiting_event_makes_the_owner_read_in_order() {
    let Some((store, schema)) = postgres().await else {
        return;
    };
    let mut listener = listen_as(&schema, "r1").await;
    assert!(
        store
            .create_live_call(ringing_call())
            .await
            .expect("create")
    );
    store
        .save_live_call("tok-1", "r1", "{}", Some("ring-1"), false)
        .await
        .expect("save");
    // The replicas' clocks disagree: the database's orders the inbox.
    for (id, at_us, replica) in [("e1", 2_000, "r2"), ("e2", 1_000, "r3")] {
        assert_eq!(
            store
                .deliver_to_owner("tok-1", event(id, at_us), None, replica)
                .await
                .expect("hand over"),
            Handover::Accepted { owner: "r1".into() }
        );
    }
    assert_eq!(
        wake_ups(&mut listener, 2).await,
        ["tok-1 e1 after []", "tok-1 e2 after [e1]"]
    );
    assert_eq!(
        store.inbox_pending("tok-1").await.expect("pending"),
        ["e1", "e2"]
    );
    store.close().await;
    schema.drop().await.expect("drop schema");
}

/// Wake-ups reach the owner's channel, several per notification, the event along
/// when it fits.
#[tokio::test]
async fn postgres_wake_ups_reach_the_owner() {
    let Some((store, schema)) = postgres().await else {
        return;
    };
    let mut listener = listen_as(&schema, "r-1").await;
    let big = "x".repeat(10_000);
    let sent: Vec<(String, Option<&str>)> = (0..50)
        .map(|i| {
            (
                format!("tok-{i}"),
                if i == 7 {
                    Some(big.as_str())
                } else {
                    Some("{}")
                },
            )
        })
        .collect();
    for (token, event) in &sent {
        store.notify("r-1", token, *event, "");
    }
    store.notify("r-2", "elsewhere", None, "");
    let expected: Vec<String> = sent
        .iter()
        .map(|(token, event)| {
            let event = event.filter(|e| e.len() < 100).unwrap_or("-");
            format!("{token} {event} after []")
        })
        .collect();
    assert_eq!(
        wake_ups(&mut listener, sent.len()).await,
        expected,
        "in order; the event too big for a notification left out"
    );
    store.close().await;
    schema.drop().await.expect("drop schema");
}

async fn call_log(store: &Store) {
    use switchboard::contract::{Action, ActionRequest};
    use switchboard::store::calls::{CallEvent, Recorded};
    let event = |seq: u32| CallEvent {
        tenant: "acme".into(),
        server_call_id: "call-1".into(),
        seq,
        at_ms: 1_000 + i64::from(seq),
        event: if seq == 1 {
            "IncomingCall"
        } else {
            "PlayCompleted"
        }
        .into(),
        outcome: "decision".into(),
        fallback: false,
        actions: vec!["play".into()],
        failed: (seq == 2).then(|| "8523: bad".into()),
        plugin_us: 30,
        total_us: 900,
        // What a replay needs, on some events.
        recorded: (!seq.is_multiple_of(2)).then(|| Recorded {
            event: switchboard::scenario::incoming_call(),
            context: switchboard::scenario::context(),
            decision: (!seq.is_multiple_of(3)).then(|| {
                vec![ActionRequest {
                    action: Action::Answer,
                    operation_context: Some(format!("n{seq}")),
                    operation_callback_uri: None,
                }]
            }),
        }),
    };
    // More rows than one statement takes, in two batches that overlap (a replay).
    let first: Vec<CallEvent> = (1..=200).map(event).collect();
    let second: Vec<CallEvent> = (150..=300).map(event).collect();
    store.record_call_events(&first).await.expect("record");
    store
        .record_call_events(&second)
        .await
        .expect("record again");
    let events = store.call_events("acme", "call-1").await.expect("events");
    assert_eq!(events.len(), 300, "each seq once");
    assert_eq!(events[0], event(1));
    assert_eq!(events[2], event(3), "recorded without a decision");
    assert!(events[1].recorded.is_none());
    assert_eq!(events[1].failed.as_deref(), Some("8523: bad"));
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
    let calls = store.calls("acme", 10).await.expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].events, calls[0].first_ms), (300, 1_001));
    assert!(matches!(
        store.call_events("globex", "call-1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.calls("globex", 10).await.expect("calls").is_empty());
}

async fn tenants(store: &Store) {
    let acme = store
        .create_tenant("acme", "Acme Corp")
        .await
        .expect("create");
    assert_eq!((acme.id.as_str(), acme.disabled), ("acme", false));
    store
        .create_tenant("globex", "Globex")
        .await
        .expect("create");
    assert!(matches!(
        store.create_tenant("acme", "again").await,
        Err(StoreError::Conflict(_))
    ));
    for bad in ["", "Acme", "a b", "-x", &"x".repeat(65)] {
        assert!(
            matches!(
                store.create_tenant(bad, "x").await,
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    let ids: Vec<String> = store
        .tenants()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["acme", "globex"]);
    assert!(matches!(
        store.tenant("initech").await,
        Err(StoreError::NotFound(_))
    ));

    let limits = Limits {
        deadline_ms: 25,
        ..Limits::default()
    };
    let set = store
        .set_tenant_limits("acme", Some(&limits))
        .await
        .expect("limits");
    assert_eq!(set.limits, Some(limits));
    let cleared = store.set_tenant_limits("acme", None).await.expect("clear");
    assert_eq!(cleared.limits, None);

    let config = BTreeMap::from([("agent_phone".to_owned(), "+15550001111".to_owned())]);
    let secrets = BTreeMap::from([("crm_token".to_owned(), "s3cr3t".to_owned())]);
    store
        .set_tenant_config("acme", &config)
        .await
        .expect("config");
    let acme = store
        .set_tenant_secrets("acme", &secrets)
        .await
        .expect("secrets");
    assert_eq!(acme.config, config);
    assert_eq!(acme.secret_names, ["crm_token"], "names only");
    assert!(!format!("{acme:?}").contains("s3cr3t"), "never in a tenant");
    assert_eq!(
        store.tenant_secrets("acme").await.expect("secrets"),
        secrets
    );

    let off = store
        .set_tenant_disabled("globex", true)
        .await
        .expect("off");
    assert!(off.disabled);
    assert!(
        !store
            .set_tenant_disabled("globex", false)
            .await
            .expect("on")
            .disabled
    );
    assert!(matches!(
        store.set_tenant_disabled("initech", true).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn keys(store: &Store) {
    let new = store.create_key("acme").await.expect("key");
    assert!(new.secret.starts_with("sbk_"), "{}", new.secret);
    assert_eq!(
        store.authenticate_key(&new.secret).await.expect("auth"),
        Some("acme".to_owned())
    );
    // One character of the secret changed; a malformed key; a key of the right shape
    // that does not exist.
    let mut wrong = new.secret.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    for text in [
        wrong.as_str(),
        "",
        "sbk_",
        "Bearer x",
        "sbk_0123456789abcdef_nothing",
    ] {
        assert_eq!(
            store.authenticate_key(text).await.expect("auth"),
            None,
            "{text:?}"
        );
    }
    // Another tenant cannot revoke it, nor see it.
    assert!(matches!(
        store.revoke_key("globex", &new.key.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.keys("globex").await.expect("keys").is_empty());
    let listed = store.keys("acme").await.expect("keys");
    assert_eq!(listed, std::slice::from_ref(&new.key));
    assert!(
        !format!("{listed:?}").contains(&new.secret[21..]),
        "the secret is never listed"
    );
    // A disabled tenant's keys are refused; enabled again, accepted.
    store.set_tenant_disabled("acme", true).await.expect("off");
    assert_eq!(
        store.authenticate_key(&new.secret).await.expect("auth"),
        None
    );
    store.set_tenant_disabled("acme", false).await.expect("on");
    store.revoke_key("acme", &new.key.id).await.expect("revoke");
    store.revoke_key("acme", &new.key.id).await.expect("twice");
    assert_eq!(
        store.authenticate_key(&new.secret).await.expect("auth"),
        None
    );
    assert!(
        store.keys("acme").await.expect("keys")[0]
            .revoked_ms
            .is_some()
    );
}

async fn plugins(store: &Store) {
    let v1 = b"\0asm component v1".to_vec();
    let v2 = b"\0asm component v2".to_vec();
    let first = store
        .add_plugin_version("acme", "ivr", &v1)
        .await
        .expect("v1");
    assert_eq!(first.size, i64::try_from(v1.len()).expect("size"));
    let again = store
        .add_plugin_version("acme", "ivr", &v1)
        .await
        .expect("same bytes");
    assert_eq!(again, first, "versions are immutable and addressed by hash");
    let second = store
        .add_plugin_version("acme", "ivr", &v2)
        .await
        .expect("v2");
    let record = store.plugin("acme", "ivr").await.expect("plugin");
    assert_eq!((record.active, record.versions.len()), (None, 2));

    store
        .activate("acme", "ivr", &first.sha256)
        .await
        .expect("activate v1");
    let record = store
        .activate("acme", "ivr", &second.sha256)
        .await
        .expect("activate v2");
    assert_eq!(record.active.as_deref(), Some(second.sha256.as_str()));
    assert_eq!(record.previous.as_deref(), Some(first.sha256.as_str()));
    let back = store.rollback("acme", "ivr").await.expect("rollback");
    assert_eq!(back.active.as_deref(), Some(first.sha256.as_str()));
    assert_eq!(back.previous.as_deref(), Some(second.sha256.as_str()));
    assert_eq!(
        store
            .plugin_bytes("acme", &first.sha256)
            .await
            .expect("bytes"),
        v1
    );
    assert!(matches!(
        store.activate("acme", "ivr", &"0".repeat(64)).await,
        Err(StoreError::NotFound(_))
    ));

    // Globex uploads the same bytes under its own plugin: shared blob, separate
    // plugins; it sees none of Acme's.
    store
        .add_plugin_version("globex", "menu", &v2)
        .await
        .expect("globex");
    assert!(matches!(
        store.plugin("globex", "ivr").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.plugin_bytes("globex", &first.sha256).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.rollback("globex", "menu").await,
        Err(StoreError::Conflict(_))
    ));
    let names: Vec<String> = store
        .plugins("acme")
        .await
        .expect("plugins")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["ivr"]);
    assert!(matches!(
        store.add_plugin_version("acme", "Bad Name", &v1).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn routes(store: &Store) {
    let route = store
        .add_route("acme", "+18005550100", "ivr")
        .await
        .expect("route");
    assert_eq!(route.plugin, "ivr");
    store
        .add_route("acme", "8:acs:resource_user-1", "ivr")
        .await
        .expect("acs identity");
    for bad in ["18005550100", "+1-800", "+1", "8:acs:has space", "hello"] {
        assert!(
            matches!(
                store.add_route("acme", bad, "ivr").await,
                Err(StoreError::Invalid(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        store.add_route("acme", "+18005550101", "nope").await,
        Err(StoreError::NotFound(_))
    ));
    // Taken by Acme: Globex gets a conflict.
    assert!(matches!(
        store.add_route("globex", "+18005550100", "menu").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .resolve_route("+18005550100")
            .await
            .expect("resolve")
            .map(|r| r.tenant_id),
        Some("acme".to_owned())
    );
    assert_eq!(
        store.resolve_route("+18005550199").await.expect("resolve"),
        None
    );
    assert!(store.routes("globex").await.expect("routes").is_empty());
    assert!(matches!(
        store.remove_route("globex", "+18005550100").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .remove_route("acme", "8:acs:resource_user-1")
        .await
        .expect("remove");
    let left: Vec<String> = store
        .routes("acme")
        .await
        .expect("routes")
        .into_iter()
        .map(|r| r.address)
        .collect();
    assert_eq!(left, ["+18005550100"]);
}

/// The pool skips sqlx's ping when a connection goes back clean (a patch,
/// `vendor/README.md`); what the ping did must still happen: a transaction dropped
/// unfinished is rolled back as its connection goes back (its row locks freed at
/// once), and a statement cancelled mid-flight leaves a connection that answers the
/// next statement, not the cancelled one's rows.
#[tokio::test]
async fn postgres_connections_go_back_to_the_pool_clean() {
    let Some(schema) = scratch_schema().await else {
        return;
    };
    let store = Store::open_with(&schema.url, Some(2))
        .await
        .expect("open postgres store");
    let pool = store.pool();
    sqlx::query("CREATE TABLE pool_probe (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .execute(pool)
        .await
        .expect("create");
    sqlx::query("INSERT INTO pool_probe (id, v) VALUES (1, 0)")
        .execute(pool)
        .await
        .expect("insert");

    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("UPDATE pool_probe SET v = 1 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .expect("update in the transaction");
    drop(tx);
    // The other connection, or the same one once back: either way the row's lock must
    // be free well before the lock timeout.
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL lock_timeout = '3s'")
        .execute(&mut *tx)
        .await
        .expect("lock timeout");
    sqlx::query("UPDATE pool_probe SET v = v + 10 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .expect("the dropped transaction still holds the row's lock");
    tx.commit().await.expect("commit");
    let v: i64 = sqlx::query_scalar("SELECT v FROM pool_probe WHERE id = 1")
        .fetch_one(pool)
        .await
        .expect("read");
    assert_eq!(v, 10, "the dropped transaction's update was rolled back");

    // Both connections' statements cancelled after they were sent.
    for _ in 0..2 {
        let slow = sqlx::query_scalar::<_, i64>("SELECT 7 FROM pg_sleep(0.3)").fetch_one(pool);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), slow)
                .await
                .is_err(),
            "pg_sleep(0.3) came back within 50 ms"
        );
    }
    for expected in [1_i64, 2, 3] {
        let got: i64 = sqlx::query_scalar("SELECT $1")
            .bind(expected)
            .fetch_one(pool)
            .await
            .expect("a statement after a cancelled one");
        assert_eq!(
            got, expected,
            "a connection answered with another statement's row"
        );
    }
    store.close().await;
    schema.drop().await.expect("drop schema");
}
