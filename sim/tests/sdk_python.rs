//! The official Python SDK (`azure-communication-callautomation`, pinned in the
//! project's venv by `make setup`) drives every operation against the simulator over
//! HTTPS: see `sim/conformance/python_sdk.py`.

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
    let sim = support::start_sim(20.0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("sim-ca.pem");
    std::fs::write(&ca, &sim.ca_pem).expect("write CA");
    let script = root.join("sim/conformance/python_sdk.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SIM_CONNECTION_STRING", sim.connection_string())
            .env("SIM_HTTP", sim.http_url())
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
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
        "Python SDK conformance failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    println!("{stdout}");
}
