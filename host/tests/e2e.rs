//! End to end: the simulator rings, the host answers through the Rust IVR plugin, the
//! simulator's scripted callers follow `ivr.md`; every script ends as it expects.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::server::App;
use switchboard_sim::script::Scenario;
use switchboard_sim::{Listen, SimConfig};

struct Stack {
    sim: switchboard_sim::Running,
    host: std::net::SocketAddr,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn stack() -> Stack {
    stack_with("").await
}

/// The stack with more `[[tenant]]` tables (`{guests}` stands for the guests' directory).
async fn stack_with(extra_tenants: &str) -> Stack {
    let sim = switchboard_sim::start(
        SimConfig {
            time_scale: 50.0,
            ..SimConfig::default()
        },
        Listen::default(),
    )
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("sim-ca.pem");
    std::fs::write(&ca, &sim.ca_pem).expect("ca");
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/guest/switchboard_ivr.wasm");
    support::guest_bytes("switchboard_ivr"); // a clear message if the guests are not built
    let config = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [acs]
        connection_string = "{connection}"
        audience = "{audience}"
        openid_configuration = "{base}/calling/.well-known/acsopenidconfiguration"
        ca_file = "{ca}"
        [runtime]
        cache_dir = "{cache}"
        [[tenant]]
        id = "acme"
        plugin = "{plugin}"
        numbers = ["+18005550100"]
        config = {{ agent_phone = "+15550001111" }}
        {extra}
        "#,
        connection = sim.connection_string(),
        audience = sim.sim.config.resource_id,
        base = sim.sim.base_url(),
        ca = ca.display(),
        cache = dir.path().join("cache").display(),
        plugin = plugin.display(),
        extra = extra_tenants.replace(
            "{guests}",
            &plugin.parent().expect("guest dir").display().to_string()
        ),
    );
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, config).expect("config");
    let settings = Settings::load(Some(&path)).expect("settings");
    let app = App::build(settings).await.expect("host builds");
    let host = app.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let response = reqwest::Client::new()
        .post(format!("{}/sim/subscriptions", sim.http_url()))
        .json(&json!({"endpoint": format!("http://{host}/eventgrid")}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    Stack {
        sim,
        host,
        _dir: dir,
        _stop: stop,
    }
}

async fn report(sim: &switchboard_sim::Running, calls: usize) -> Value {
    for _ in 0..600 {
        let report: Value = reqwest::get(format!("{}/sim/report", sim.http_url()))
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        let ended = report["calls"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["ended"] == true).count());
        if ended >= calls {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("calls did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ivr_caller_script_end_to_end_through_the_rust_plugin() {
    let stack = stack().await;
    let http = reqwest::Client::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/scenarios/ivr");
    let mut scripts = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios") {
        for caller in Scenario::load(&entry.expect("entry").path())
            .expect("scenario")
            .callers
        {
            let placed = http
                .post(format!("{}/sim/calls", stack.sim.http_url()))
                .json(&json!({"caller": caller}))
                .send()
                .await
                .expect("place");
            assert_eq!(placed.status(), 201);
            scripts += 1;
        }
    }
    let report = report(&stack.sim, scripts).await;
    for call in report["calls"].as_array().expect("calls") {
        assert_eq!(call["pass"], true, "{} failed: {call:#}", call["script"]);
    }
    let health = reqwest::get(format!("http://{}/healthz", stack.host))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_without_a_valid_token_are_refused_and_change_nothing() {
    let stack = stack().await;
    let http = reqwest::Client::new();
    let body = json!([{"id": "x", "type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "c"}}]);
    let url = format!("http://{}/callbacks/not-a-real-token", stack.host);
    let missing = http.post(&url).json(&body).send().await.expect("post");
    assert_eq!(missing.status(), 401);
    let forged = http
        .post(&url)
        .header("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    // A genuine token, but no such call: 404.
    let token = stack.sim.sim.signer.token(std::time::SystemTime::now());
    let unknown = http
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(unknown.status(), 404);
    let malformed = http
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .body("{nope")
        .send()
        .await
        .expect("post");
    assert_eq!(malformed.status(), 400);
    let huge = http
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .expect("post");
    assert_eq!(huge.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_gets_the_fallback_and_other_tenants_are_unaffected() {
    let stack = stack_with(
        r#"
        [[tenant]]
        id = "evil"
        plugin = "{guests}/hostile_guest.wasm"
        numbers = ["+18005550199"]
        config = { mode = "loop" }
        "#,
    )
    .await;
    let http = reqwest::Client::new();
    let evil: Value = http
        .post(format!("{}/sim/calls", stack.sim.http_url()))
        .json(&json!({"from": "+14255550999", "to": "+18005550199"}))
        .send()
        .await
        .expect("place")
        .json()
        .await
        .expect("json");
    let good = Scenario::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/scenarios/ivr/press-2-then-3.toml"),
    )
    .expect("scenario");
    for caller in good.callers {
        http.post(format!("{}/sim/calls", stack.sim.http_url()))
            .json(&json!({"caller": caller}))
            .send()
            .await
            .expect("place");
    }
    let report = report(&stack.sim, 1).await;
    assert_eq!(report["passed"], 1, "the good tenant's call: {report:#}");
    // The hostile plugin ran into its deadline; the fallback rejected its call.
    let id = evil["serverCallId"].as_str().expect("id");
    let mut rejected = false;
    for _ in 0..100 {
        let call: Value = http
            .get(format!("{}/sim/calls/{id}", stack.sim.http_url()))
            .send()
            .await
            .expect("call")
            .json()
            .await
            .expect("json");
        rejected = call["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|e| e["name"] == "RejectCall" && e["detail"]["status"] == 204);
        if rejected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rejected, "the fallback rejects the hostile tenant's call");
}
