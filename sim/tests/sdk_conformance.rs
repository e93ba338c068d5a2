//! The official SDKs drive the simulator over HTTPS, built from the connection string
//! as applications do: Python (`azure-communication-callautomation`, every operation,
//! `sim/conformance/python_sdk.py`) and JavaScript (`@azure/communication-call-automation`,
//! `sim/conformance/js_sdk.mjs`). Both are pinned and installed by `make setup`.

mod support;

use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_every_operation() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (it installs the pinned Python SDK)",
        python.display()
    );
    conform(python, root.join("sim/conformance/python_sdk.py")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_creates_answers_plays_recognizes_hangs_up() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sdk = root.join("sim/conformance/node_modules/@azure/communication-call-automation");
    assert!(
        sdk.exists(),
        "{} is missing: run `make setup` (it installs the pinned JavaScript SDK)",
        sdk.display()
    );
    conform(
        PathBuf::from("node"),
        root.join("sim/conformance/js_sdk.mjs"),
    )
    .await;
}

/// Runs a conformance script against a fresh simulator; fails with its output.
async fn conform(interpreter: PathBuf, script: PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (it installs the pinned Python SDK)",
        python.display()
    );
    let sim = support::start_sim(20.0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("sim-ca.pem");
    std::fs::write(&ca, &sim.ca_pem).expect("write CA");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(interpreter)
            .arg(script)
            .env("SIM_CONNECTION_STRING", sim.connection_string())
            .env("SIM_HTTP", sim.http_url())
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .output()
            .map(|o| (o, sim))
    })
    .await
    .expect("join")
    .expect("python runs");
    let (output, _sim) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK conformance failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    println!("{stdout}");
}
