//! `make demo`: the ACS simulator and a Switchboard host in one process, on loopback.
//! The simulator rings the tenant's number once per `ivr.md` caller script; the host
//! answers and runs the Rust IVR plugin; the scripted callers press keys, stay silent,
//! hang up. Prints each call's timeline as the simulator saw it, then pass/fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::server::App;
use switchboard_sim::script::Scenario;
use switchboard_sim::{Listen, SimConfig};

const TIME_SCALE: f64 = 20.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = root.join("target/demo");
    std::fs::create_dir_all(&work)?;

    let sim = switchboard_sim::start(
        SimConfig {
            time_scale: TIME_SCALE,
            ..SimConfig::default()
        },
        Listen::default(),
    )
    .await?;
    let ca = work.join("sim-ca.pem");
    std::fs::write(&ca, &sim.ca_pem)?;
    let plugin = root.join("target/wasm32-wasip2/guest/switchboard_ivr.wasm");
    anyhow::ensure!(
        plugin.exists(),
        "{} is missing: build it with `make guests`",
        plugin.display()
    );
    let settings = Settings::from_toml(&format!(
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
        "#,
        connection = sim.connection_string(),
        audience = sim.sim.config.resource_id,
        base = sim.sim.base_url(),
        ca = ca.display(),
        cache = work.join("cache").display(),
        plugin = plugin.display(),
    ))?;
    let app = App::build(settings).await.context("starting the host")?;
    let host = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    println!(
        "simulator  {}  (HTTPS {}, time ×{TIME_SCALE})",
        sim.http_url(),
        sim.https.map(|a| a.to_string()).unwrap_or_default()
    );
    println!(
        "host       http://{host}  tenant acme → +18005550100 → {}",
        plugin.display()
    );

    let http = reqwest::Client::new();
    let subscribed = http
        .post(format!("{}/sim/subscriptions", sim.http_url()))
        .json(&json!({"endpoint": format!("http://{host}/eventgrid")}))
        .send()
        .await?;
    anyhow::ensure!(
        subscribed.status() == 201,
        "Event Grid subscription refused: {}",
        subscribed.text().await?
    );

    let scripts = scripts(&root.join("sim/scenarios/ivr"))?;
    for caller in &scripts {
        let placed = http
            .post(format!("{}/sim/calls", sim.http_url()))
            .json(&json!({"caller": caller}))
            .send()
            .await?;
        anyhow::ensure!(
            placed.status() == 201,
            "placing {}: {}",
            caller.name,
            placed.text().await?
        );
    }
    let report = wait_for_report(&http, &sim.http_url(), scripts.len()).await?;
    for call in report["calls"].as_array().into_iter().flatten() {
        let id = call["serverCallId"].as_str().unwrap_or_default();
        let detail: Value = http
            .get(format!("{}/sim/calls/{id}", sim.http_url()))
            .send()
            .await?
            .json()
            .await?;
        print_timeline(call, &detail);
    }
    let (passed, total) = (
        report["passed"].as_u64().unwrap_or(0),
        report["total"].as_u64().unwrap_or(0),
    );
    println!("\n{passed}/{total} caller scripts ended as ivr.md expects");
    let _ = stop.send(());
    serving.await??;
    anyhow::ensure!(
        passed == total && total > 0,
        "{} script(s) failed",
        total - passed
    );
    Ok(())
}

fn scripts(dir: &Path) -> anyhow::Result<Vec<switchboard_sim::script::Caller>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let mut callers = Vec::new();
    for path in paths {
        callers.extend(Scenario::load(&path)?.callers);
    }
    Ok(callers)
}

async fn wait_for_report(http: &reqwest::Client, sim: &str, calls: usize) -> anyhow::Result<Value> {
    for _ in 0..1200 {
        let report: Value = http
            .get(format!("{sim}/sim/report"))
            .send()
            .await?
            .json()
            .await?;
        let ended = report["calls"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["ended"] == true).count());
        if ended >= calls {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the calls did not end within a minute")
}

/// One line per thing that happened on the call, in simulated seconds.
fn print_timeline(call: &Value, detail: &Value) {
    let verdict = if call["pass"] == true {
        "✓ pass"
    } else {
        "✗ FAIL"
    };
    println!("\n▶ {}  {verdict}", call["script"].as_str().unwrap_or("?"));
    // Requests are recorded when answered; place them when they arrived.
    let when = |e: &Value| {
        e["detail"]["arrived_ms"]
            .as_f64()
            .or_else(|| e["at_ms"].as_f64())
            .unwrap_or(0.0)
    };
    let mut entries = detail["timeline"].as_array().cloned().unwrap_or_default();
    entries.sort_by(|a, b| when(a).total_cmp(&when(b)));
    let start = entries.first().map(when).unwrap_or(0.0);
    for e in &entries {
        let at = (when(e) - start) * TIME_SCALE / 1000.0;
        let d = &e["detail"];
        let name = e["name"].as_str().unwrap_or("?");
        let line = match e["kind"].as_str() {
            Some("request") => {
                let body = &d["body"];
                let context = body["operationContext"]
                    .as_str()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default();
                let what = body["playSources"][0]["text"]["text"]
                    .as_str()
                    .or_else(|| body["playPrompts"][0]["text"]["text"].as_str())
                    .map(|t| format!(" {t:?}"))
                    .or_else(|| {
                        body["targetParticipant"]["rawId"]
                            .as_str()
                            .map(|t| format!(" → {t}"))
                    })
                    .unwrap_or_default();
                format!("host → {name}{what}{context}  ({})", d["status"])
            }
            Some("event") => {
                let data = &d["data"];
                let context = data["operationContext"]
                    .as_str()
                    .map(|c| format!(" [{c}]"))
                    .unwrap_or_default();
                let result = &data["resultInformation"];
                let code = if result.is_object() {
                    format!(" {}/{}", result["code"], result["subCode"])
                } else {
                    String::new()
                };
                let tones = data["dtmfResult"]["tones"]
                    .as_array()
                    .map(|t| {
                        format!(
                            " tones {}",
                            t.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    })
                    .unwrap_or_default();
                format!("      ← {name}{tones}{context}{code}")
            }
            Some("state") => format!("      · {name}"),
            Some("fault") => format!("      ! fault on {name}"),
            _ => continue,
        };
        println!("  {at:6.1}s  {line}");
    }
    if call["pass"] != true {
        println!("  expected {}  made {}", call["expected"], call["made"]);
    }
}
