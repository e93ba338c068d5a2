//! `cargo bench -p switchboard --bench tenancy`: what multi-tenancy costs.
//!
//! 1. Routing an IncomingCall (store route → tenant → active version → loaded plugin)
//!    with 1 tenant, then with 10,000 tenants and 100,000 routes, on SQLite and (if a
//!    server answers) PostgreSQL.
//! 2. Uploading the Rust IVR plugin: validation (compile, world, smoke run) and store.
//! 3. The first call on a freshly uploaded version: loading it is a cache hit on the
//!    artifact the upload precompiled, not a compile.
//!
//! Prints a Markdown table; with `BENCH_OUT=dir` also writes it to `dir/tenancy.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::contract::CommunicationIdentifier;
use switchboard::directory::{Directory, Routes};
use switchboard::runtime::validate::validate;
use switchboard::runtime::{Limits, Runtime, RuntimeConfig};
use switchboard::store::Store;

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn guest(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/wasm32-wasip2/guest/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make guests`", path.display()))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median time to route a call to `number`, over `n` calls.
async fn route_cost(directory: &Directory, number: &str, n: usize) -> Duration {
    let to = CommunicationIdentifier::PhoneNumber(number.to_owned());
    directory.route(&to).await.expect("routed"); // loads the plugin once
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        std::hint::black_box(directory.route(&to).await.expect("routed"));
        samples.push(started.elapsed());
    }
    median(samples)
}

/// Adds `tenants` tenants with `per_tenant` routes each, in one transaction, all on
/// the plugin version `sha256` (its blob is already stored).
async fn populate(store: &Store, tenants: usize, per_tenant: usize, sha256: &str, size: i64) {
    let mut tx = store.pool().begin().await.expect("begin");
    for t in 0..tenants {
        let id = format!("tenant-{t:05}");
        sqlx::query("INSERT INTO tenants (id, name, created_ms) VALUES ($1, $1, 0)")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .expect("tenant");
        sqlx::query(
            "INSERT INTO plugins (tenant_id, name, active, created_ms) VALUES ($1, 'ivr', $2, 0)",
        )
        .bind(&id)
        .bind(sha256)
        .execute(&mut *tx)
        .await
        .expect("plugin");
        sqlx::query(
            "INSERT INTO plugin_versions (tenant_id, plugin, sha256, size, created_ms) VALUES ($1, 'ivr', $2, $3, 0)",
        )
        .bind(&id)
        .bind(sha256)
        .bind(size)
        .execute(&mut *tx)
        .await
        .expect("version");
        for r in 0..per_tenant {
            sqlx::query(
                "INSERT INTO routes (address, tenant_id, plugin, created_ms) VALUES ($1, $2, 'ivr', 0)",
            )
            .bind(format!("+1700{t:05}{r:02}"))
            .bind(&id)
            .execute(&mut *tx)
            .await
            .expect("route");
        }
    }
    tx.commit().await.expect("commit");
}

async fn routing_rows(name: &str, url: &str, runtime: &Arc<Runtime>, quick: bool) -> Vec<String> {
    let store = Store::open(url).await.expect("store");
    let ivr = guest("switchboard_ivr");
    store.create_tenant("acme", "Acme").await.expect("tenant");
    let version = store
        .add_plugin_version("acme", "ivr", &ivr)
        .await
        .expect("version");
    store
        .activate("acme", "ivr", &version.sha256)
        .await
        .expect("activate");
    store
        .add_route("acme", "+18005550100", "ivr")
        .await
        .expect("route");
    let directory = Directory::new(
        store.clone(),
        Arc::clone(runtime),
        Routes::default(),
        Limits::default(),
    );
    let n = if quick { 50 } else { 2_000 };
    let one = route_cost(&directory, "+18005550100", n).await;
    let (tenants, per_tenant) = if quick { (100, 10) } else { (10_000, 10) };
    let started = Instant::now();
    populate(&store, tenants, per_tenant, &version.sha256, version.size).await;
    let populated = started.elapsed();
    let many = route_cost(&directory, "+18005550100", n).await;
    let far = route_cost(&directory, &format!("+1700{:05}07", tenants - 1), n).await;
    store.close().await;
    vec![format!(
        "| {name} | {:.0} µs | {:.0} µs / {:.0} µs | {:.2}× | {} tenants, {} routes in {:.1} s |",
        one.as_secs_f64() * 1e6,
        many.as_secs_f64() * 1e6,
        far.as_secs_f64() * 1e6,
        many.max(far).as_secs_f64() / one.as_secs_f64(),
        tenants + 1,
        tenants * per_tenant + 1,
        populated.as_secs_f64(),
    )]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let work = tempfile::tempdir().expect("tempdir");
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(work.path().join("cache")),
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let mut routing = vec![
        "| store | route a call, 1 tenant | with 10,000 tenants: first / last tenant | ratio (goal ≤ 1.2×) | |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let sqlite = format!("sqlite://{}", work.path().join("bench.db").display());
    routing.extend(rt.block_on(routing_rows("SQLite", &sqlite, &runtime, quick)));
    let schema = format!("sb_bench_{}", std::process::id());
    let pg_ready = rt.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(PG).await.ok()?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .ok()
    });
    if pg_ready.is_some() {
        let url = format!("{PG}?options=-c%20search_path%3D{schema}");
        routing.extend(rt.block_on(routing_rows("PostgreSQL", &url, &runtime, quick)));
        rt.block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(PG).await.expect("pg");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .expect("drop");
        });
    } else {
        routing.push("| PostgreSQL | not measured: no server at 127.0.0.1:5432 | | | |".into());
    }

    // Upload: validate (compile + world + smoke) and store, on a cold cache.
    let ivr = guest("switchboard_ivr");
    let uploads = if quick { 1 } else { 5 };
    let mut upload = Vec::new();
    let mut first_call_load = Vec::new();
    for i in 0..uploads {
        // A distinct component each time (a custom section), and a runtime with caches
        // of its own (artifacts, compiled functions), so nothing is cached.
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(work.path().join(format!("upload-cache{i}"))),
            max_concurrent_instances: 16,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let mut bytes = ivr.clone();
        bytes.extend_from_slice(&[0x00, 0x07, 0x05, b'b', b'e', b'n', b'c', b'h', i as u8]);
        let store_url = format!(
            "sqlite://{}",
            work.path().join(format!("up{i}.db")).display()
        );
        let started = Instant::now();
        rt.block_on(async {
            let store = Store::open(&store_url).await.expect("store");
            store.create_tenant("acme", "Acme").await.expect("tenant");
            validate(&runtime, &bytes, &Limits::default(), vec![]).expect("valid");
            store
                .add_plugin_version("acme", "ivr", &bytes)
                .await
                .expect("store");
        });
        upload.push(started.elapsed());
        // What the first call on this version does: load it (from the artifact cache).
        let started = Instant::now();
        std::hint::black_box(runtime.load(&bytes).expect("load"));
        first_call_load.push(started.elapsed());
    }
    let table = format!(
        "### Tenancy (`make bench`: `cargo bench -p switchboard --bench tenancy`)\n\n{}\n\n\
         | measure | median | goal |\n|---|---|---|\n\
         | upload a Rust plugin: validate (compile, world, smoke run) and store | {:.0} ms | ≤ 1,000 ms |\n\
         | first call on the new version: load it (artifact precompiled at upload) | {:.2} ms | no compile |\n",
        routing.join("\n"),
        median(upload).as_secs_f64() * 1e3,
        median(first_call_load).as_secs_f64() * 1e3,
    );
    println!("{table}");
    if let (false, Some(dir)) = (
        quick,
        std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()),
    ) {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("BENCH_OUT");
        std::fs::write(dir.join("tenancy.md"), table).expect("write");
    }
}
