//! `make demo`: the ACS simulator and a Switchboard host in one process, on loopback.
//! The simulator rings the tenant's number once per `ivr.md` caller script; the host
//! answers and runs the Rust IVR plugin; the scripted callers press keys, stay silent,
//! hang up. Prints each call's timeline as the simulator saw it, then pass/fail.

use serde_json::Value;
use switchboard::executor::tags;
use switchboard_e2e::{StackBuilder, ivr_scripts, workspace_root};

const TIME_SCALE: f64 = 20.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let mut builder = StackBuilder::ivr()?;
    builder.sim.time_scale = TIME_SCALE;
    builder.work_dir = Some(workspace_root().join("target/demo"));
    let plugin = builder.tenants[0].plugin.clone();
    let mut stack = builder.start().await?;
    println!(
        "simulator  {}  (HTTPS {}, time ×{TIME_SCALE})",
        stack.sim.http_url(),
        stack.sim.https.map(|a| a.to_string()).unwrap_or_default()
    );
    println!(
        "host       http://{}  tenant acme → +18005550100 → {}",
        stack.host,
        plugin.display()
    );

    let scripts = ivr_scripts()?;
    for caller in &scripts {
        stack.place(caller).await?;
    }
    let report = stack.report_when_ended(scripts.len()).await?;
    for call in report["calls"].as_array().into_iter().flatten() {
        let id = call["serverCallId"].as_str().unwrap_or_default();
        let detail = stack.sim_get(&format!("calls/{id}")).await?;
        print_timeline(call, &detail);
    }
    let (passed, total) = (
        report["passed"].as_u64().unwrap_or(0),
        report["total"].as_u64().unwrap_or(0),
    );
    println!("\n{passed}/{total} caller scripts ended as ivr.md expects");
    stack.stop_host().await?;
    anyhow::ensure!(
        passed == total && total > 0,
        "{} script(s) failed",
        total - passed
    );
    Ok(())
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
                let context = context(&body["operationContext"]);
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
                let context = context(&data["operationContext"]);
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

/// An operation context for people: the host's tag `sb1:3:menu` as `[menu #3]`.
fn context(raw: &Value) -> String {
    match raw.as_str() {
        None => String::new(),
        Some(raw) => match tags::parse(raw) {
            Some((seq, Some(plugin))) => format!(" [{plugin} #{seq}]"),
            Some((seq, None)) => format!(" [#{seq}]"),
            None => format!(" [{raw}]"),
        },
    }
}
