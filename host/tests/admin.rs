//! The admin API over HTTP on a real host (port 0, SQLite file): the operator creates
//! tenants and keys; tenants upload, activate and roll back plugins and route numbers;
//! every tenant route tried with another tenant's key answers 404 and changes nothing;
//! invalid uploads are refused naming the check that failed.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::admin::openapi::{Access, ROUTES};
use switchboard::config::Settings;
use switchboard::server::App;

const OPERATOR: &str = "operator-token-for-tests";

struct Host {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn host() -> Host {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = settings_in(
        dir.path(),
        &format!(
            r#"
            [admin]
            operator_token = "{OPERATOR}"
            failed_auth_per_minute = 1000
            "#
        ),
    );
    let app = App::build(settings).await.expect("host");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Host {
        base,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: stop,
    }
}

impl Host {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn upload(
        &self,
        tenant: &str,
        plugin: &str,
        token: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!(
                "{}/v1/tenants/{tenant}/plugins/{plugin}/versions",
                self.base
            ))
            .bearer_auth(token)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A tenant and a key for it.
    async fn tenant(&self, id: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/tenants",
                Some(OPERATOR),
                Some(json!({"id": id})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, key) = self
            .call(
                Method::POST,
                &format!("/v1/tenants/{id}/keys"),
                Some(OPERATOR),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["secret"].as_str().expect("secret").to_owned()
    }
}

fn concrete(path: &str, tenant: &str) -> String {
    path.replace("{tenant}", tenant)
        .replace("{plugin}", "ivr")
        .replace("{key}", "0123456789abcdef")
        .replace("{address}", "+18005550100")
        .replace("{call}", "some-call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_upload_activate_roll_back_and_route() {
    let host = host().await;
    let acme = host.tenant("acme").await;
    let ivr = support::guest_bytes("switchboard_ivr");
    let hostile = support::guest_bytes("hostile_guest");

    let started = std::time::Instant::now();
    let (status, v1) = host.upload("acme", "ivr", &acme, ivr.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    eprintln!(
        "upload + validation of the Rust IVR plugin: {:?}",
        started.elapsed()
    );
    // The hostile guest in mode `ok` (no config) is a valid plugin: a second version.
    let (status, v2) = host.upload("acme", "ivr", &acme, hostile).await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let (status, again) = host.upload("acme", "ivr", &acme, ivr).await;
    assert_eq!(
        (status, &again),
        (StatusCode::CREATED, &v1),
        "same bytes, same version"
    );

    for version in [&v1, &v2] {
        let (status, plugin) = host
            .call(
                Method::POST,
                "/v1/tenants/acme/plugins/ivr/activate",
                Some(&acme),
                Some(json!({"sha256": version["sha256"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{plugin}");
        assert_eq!(plugin["active"], version["sha256"]);
    }
    let (status, plugin) = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/ivr/rollback",
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plugin}");
    assert_eq!(plugin["active"], v1["sha256"]);
    assert_eq!(plugin["previous"], v2["sha256"]);

    let (status, route) = host
        .call(
            Method::POST,
            "/v1/tenants/acme/routes",
            Some(&acme),
            Some(json!({"address": "+18005550100", "plugin": "ivr"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (status, bad) = host
        .call(
            Method::POST,
            "/v1/tenants/acme/routes",
            Some(&acme),
            Some(json!({"address": "800-555", "plugin": "ivr"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .expect("message")
            .contains("E.164"),
        "{bad}"
    );

    // Limits: bounded by the operator's maxima, and only the operator sets them.
    let (status, _) = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/limits",
            Some(&acme),
            Some(json!({"deadline_ms": 20})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, too_much) = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/limits",
            Some(OPERATOR),
            Some(json!({"deadline_ms": 60000})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        too_much["error"]["message"]
            .as_str()
            .expect("m")
            .contains("deadline_ms"),
        "{too_much}"
    );
    let (status, set) = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/limits",
            Some(OPERATOR),
            Some(json!({"deadline_ms": 20})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["limits"]["deadline_ms"], 20);

    // Secrets go in, never come out.
    let (status, tenant) = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/secrets",
            Some(&acme),
            Some(json!({"crm": "hunter2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["secret_names"], json!(["crm"]));
    assert!(!tenant.to_string().contains("hunter2"));

    // A disabled tenant's key stops working.
    let (status, _) = host
        .call(
            Method::POST,
            "/v1/tenants/acme/disable",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = host
        .call(Method::GET, "/v1/tenants/acme/plugins", Some(&acme), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_key_sees_nothing_and_changes_nothing() {
    let host = host().await;
    let acme = host.tenant("acme").await;
    let globex = host.tenant("globex").await;
    host.upload_ivr("acme", &acme).await;
    let (_, route) = host
        .call(
            Method::POST,
            "/v1/tenants/acme/routes",
            Some(&acme),
            Some(json!({"address": "+18005550100", "plugin": "ivr"})),
        )
        .await;
    assert_eq!(route["tenant_id"], "acme");
    let before = host
        .call(
            Method::GET,
            "/v1/tenants/acme/plugins",
            Some(OPERATOR),
            None,
        )
        .await;

    for (method, path, access, _) in ROUTES {
        if !path.contains("{tenant}") {
            continue;
        }
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        // Globex's key on Acme's resources: 404, like a tenant that does not exist.
        let (status, body) = host
            .call(
                method.clone(),
                &concrete(path, "acme"),
                Some(&globex),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        let (status, missing) = host
            .call(
                method.clone(),
                &concrete(path, "initech"),
                Some(OPERATOR),
                Some(json!({})),
            )
            .await;
        if *access != Access::Public {
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
                "{method} {path} for a tenant that does not exist: {status} {missing}"
            );
        }
    }
    // A tenant key lists only its own tenant; operator routes are refused.
    let (status, listed) = host
        .call(Method::GET, "/v1/tenants", Some(&globex), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], "globex");
    let (status, _) = host
        .call(
            Method::POST,
            "/v1/tenants",
            Some(&globex),
            Some(json!({"id": "evil"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let after = host
        .call(
            Method::GET,
            "/v1/tenants/acme/plugins",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(before, after, "nothing of Acme's changed");
    let (_, routes) = host
        .call(Method::GET, "/v1/tenants/acme/routes", Some(&acme), None)
        .await;
    assert_eq!(routes.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_needs_a_key_and_bad_uploads_name_their_check() {
    let host = host().await;
    let (status, doc) = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, access, _) in ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        assert!(
            doc["paths"][*path]
                .get(method.as_str().to_lowercase())
                .is_some()
        );
        if *access == Access::Public {
            continue;
        }
        for token in [None, Some("sbk_0123456789abcdef_forged"), Some("wrong")] {
            let (status, body) = host
                .call(
                    method.clone(),
                    &concrete(path, "acme"),
                    token,
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {body}"
            );
        }
    }

    let acme = host.tenant("acme").await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let mut truncated = support::guest_bytes("switchboard_ivr");
    truncated.truncate(truncated.len() / 2);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("random bytes", b"definitely not wasm".to_vec(), "component"),
        ("a core module", core_module, "component"),
        ("a truncated component", truncated, "compile"),
        (
            "a component of another world",
            wasi_only_component(),
            "world",
        ),
    ];
    for (what, bytes, check) in cases {
        let (status, body) = host.upload("acme", "ivr", &acme, bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["error"]["detail"]["check"], check, "{what}: {body}");
    }
    // With the tenant's config saying `loop`, the hostile guest spins on the smoke run.
    let (status, _) = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/config",
            Some(&acme),
            Some(json!({"mode": "loop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = host
        .upload("acme", "ivr", &acme, support::guest_bytes("hostile_guest"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["detail"]["check"], "smoke", "{body}");
    let (status, plugins) = host
        .call(Method::GET, "/v1/tenants/acme/plugins", Some(&acme), None)
        .await;
    assert_eq!(
        (status, plugins),
        (StatusCode::OK, json!([])),
        "nothing stored"
    );
    let (status, body) = host
        .upload("acme", "ivr", &acme, vec![0u8; (64 << 20) + 1])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

impl Host {
    /// Uploads the reference IVR as the tenant's plugin `ivr`.
    async fn upload_ivr(&self, tenant: &str, key: &str) {
        let (status, body) = self
            .upload(tenant, "ivr", key, support::guest_bytes("switchboard_ivr"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Sends raw bytes with a content type; the status and the error's message.
    /// Sends raw bytes with a content type; the status and the error's message.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (
            status,
            body["error"]["message"].as_str().unwrap_or("").to_owned(),
        )
    }

    /// What the admin API shows of the tenant: compared before and after bad input.
    async fn snapshot(&self, tenant: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        for path in ["", "/keys", "/plugins", "/routes", "/calls"] {
            let (status, body) = self
                .call(
                    Method::GET,
                    &format!("/v1/tenants/{tenant}{path}"),
                    Some(OPERATOR),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            seen.push(body);
        }
        seen.push(
            self.call(Method::GET, "/v1/tenants", Some(OPERATOR), None)
                .await
                .1,
        );
        seen
    }
}

/// Every route that takes a JSON body, with bodies that are not JSON, not declared
/// as JSON, of the wrong shape, with unknown fields, nested too deep or too large:
/// each gets its 4xx with a message, and nothing the API shows has changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_on_every_json_route_change_nothing() {
    let host = host().await;
    let acme = host.tenant("acme").await;
    host.upload_ivr("acme", &acme).await;
    let before = host.snapshot("acme").await;
    let json_routes: Vec<(Method, &str)> = ROUTES
        .iter()
        .filter(|(method, path, access, _)| {
            matches!(*method, "post" | "put")
                && *access != Access::Public
                && [
                    "/v1/tenants",
                    "/v1/tenants/{tenant}/limits",
                    "/v1/tenants/{tenant}/config",
                    "/v1/tenants/{tenant}/secrets",
                    "/v1/tenants/{tenant}/plugins/{plugin}/activate",
                    "/v1/tenants/{tenant}/routes",
                ]
                .contains(path)
        })
        .map(|(method, path, _, _)| {
            (
                Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                *path,
            )
        })
        .collect();
    assert_eq!(json_routes.len(), 6, "a JSON route is missing from ROUTES");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Just past the 2 MiB limit: small enough for the loopback socket buffers to take
    // it whole, so the client reads the answer instead of a connection closed while
    // it was still writing (larger bodies are refused the same way: bad_input.rs).
    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat((2 << 20) + 1024));
    let cases: [(&str, &str, Vec<u8>, StatusCode, &str); 6] = [
        (
            "not JSON",
            "application/json",
            b"{nope".to_vec(),
            StatusCode::BAD_REQUEST,
            "key must be a string",
        ),
        (
            "no JSON content type",
            "text/plain",
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "the wrong shape",
            "application/json",
            b"[1, 2, 3]".to_vec(),
            StatusCode::BAD_REQUEST,
            "must be a JSON object",
        ),
        // A field no route takes (a number, which the free maps of config and
        // secrets refuse as a value).
        (
            "an unknown field",
            "application/json",
            br#"{"surprise": 1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "surprise",
        ),
        (
            "nesting 100,000 deep",
            "application/json",
            deep.into_bytes(),
            StatusCode::BAD_REQUEST,
            "recursion limit",
        ),
        (
            "just over 2 MiB",
            "application/json",
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit",
        ),
    ];
    for (method, path) in &json_routes {
        let path = concrete(path, "acme");
        for (what, content_type, body, expected, names) in &cases {
            let (status, message) = host
                .raw(method.clone(), &path, OPERATOR, content_type, body.clone())
                .await;
            assert_eq!(status, *expected, "{method} {path} with {what}: {message}");
            assert!(
                message.contains(names),
                "{method} {path} with {what}: the message {message:?} does not say {names:?}"
            );
        }
    }
    assert_eq!(
        host.snapshot("acme").await,
        before,
        "bad input changed something"
    );
}

/// The smallest component: no exports, so not the call-policy world.
fn wasi_only_component() -> Vec<u8> {
    // `(component)` in the binary format: magic, component version 0x0d, layer 1.
    b"\0asm\x0d\0\x01\0".to_vec()
}

/// Runs the `switchboard` CLI; (success, stdout, stderr).
async fn cli(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_URL", base)
        .env("SWITCHBOARD_TOKEN", token)
        .output()
        .await
        .expect("run the CLI");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_the_admin_api_and_says_what_to_do_when_it_cannot() {
    let host = host().await;
    let (ok, out, err) = cli(&host.base, OPERATOR, &["tenant", "create", "acme"]).await;
    assert!(ok, "{out} {err}");
    let (ok, secret, err) = cli(&host.base, OPERATOR, &["key", "create", "--tenant", "acme"]).await;
    assert!(ok && secret.starts_with("sbk_"), "{secret} {err}");
    let plugin = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/guest/switchboard_ivr.wasm");
    support::guest_bytes("switchboard_ivr");
    let plugin = plugin.display().to_string();
    let (ok, sha, err) = cli(
        &host.base,
        &secret,
        &[
            "plugin",
            "push",
            "--tenant",
            "acme",
            "ivr",
            &plugin,
            "--activate",
        ],
    )
    .await;
    assert!(ok && sha.len() == 64, "{sha} {err}");
    let (ok, out, err) = cli(
        &host.base,
        &secret,
        &["route", "add", "--tenant", "acme", "+18005550100", "ivr"],
    )
    .await;
    assert!(ok, "{out} {err}");
    let (ok, listed, _) = cli(&host.base, &secret, &["plugin", "list", "--tenant", "acme"]).await;
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert!(ok);
    assert_eq!(listed[0]["active"], sha.as_str());

    let (ok, out, err) = cli(&host.base, &secret, &["calls", "list", "--tenant", "acme"]).await;
    assert!(ok && out.is_empty(), "no calls yet: {out} {err}");
    let (ok, _, err) = cli(
        &host.base,
        &secret,
        &["calls", "show", "--tenant", "acme", "nope"],
    )
    .await;
    assert!(!ok && err.contains("call nope not found"), "{err}");

    // Errors: what went wrong, and what to do.
    let (ok, _, err) = cli(
        &host.base,
        "sbk_0123456789abcdef_wrong",
        &["tenant", "list"],
    )
    .await;
    assert!(!ok && err.contains("--token"), "{err}");
    let (ok, _, err) = cli(
        &host.base,
        &secret,
        &["route", "add", "--tenant", "acme", "555", "ivr"],
    )
    .await;
    assert!(!ok && err.contains("E.164"), "{err}");
    let (ok, _, err) = cli(
        &host.base,
        &secret,
        &[
            "plugin",
            "push",
            "--tenant",
            "acme",
            "ivr",
            "/nonexistent.wasm",
        ],
    )
    .await;
    assert!(!ok && err.contains("/nonexistent.wasm"), "{err}");
    let (ok, _, err) = cli("http://127.0.0.1:9", OPERATOR, &["tenant", "list"]).await;
    assert!(!ok && err.contains("switchboard serve"), "{err}");
}

/// Settings for a host on port 0 with its files in `dir`; `more` is TOML after the
/// `[runtime]` table's `cache_dir` (keys of that table, then other tables).
fn settings_in(dir: &std::path::Path, more: &str) -> Settings {
    Settings::from_toml(&format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [acs]
        connection_string = "endpoint=https://127.0.0.1:9/;accesskey=c2VjcmV0"
        audience = "test"
        [store]
        url = "sqlite://{db}"
        [runtime]
        cache_dir = "{cache}"
        {more}
        "#,
        cache = dir.join("cache").display(),
        db = dir.join("switchboard.db").display(),
    ))
    .expect("settings")
}

/// Settings naming `warm` components.
fn warming_settings(dir: &std::path::Path, warm: &[std::path::PathBuf]) -> Settings {
    let warm: Vec<String> = warm
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    settings_in(dir, &format!("warm = [{}]", warm.join(", ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_components_are_compiled_at_start_and_a_missing_one_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such.wasm");
    let error = App::build(warming_settings(dir.path(), &[missing]))
        .await
        .expect_err("a missing warm component");
    let message = format!("{error:#}");
    assert!(
        message.contains("runtime.warm") && message.contains("no-such.wasm"),
        "{message}"
    );

    // The host serves while the thread compiles; the compiled functions land in the
    // cache directory without any upload.
    let ivr = support::guest_path("switchboard_ivr");
    let app = App::build(warming_settings(dir.path(), &[ivr]))
        .await
        .expect("host");
    let functions = dir.path().join("cache").join("functions");
    let packed = || {
        std::fs::read_dir(&functions)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while packed() < 10_000 && started.elapsed() < std::time::Duration::from_secs(60) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        packed() >= 10_000,
        "{} bytes of compiled functions",
        packed()
    );
    drop(app);
}
