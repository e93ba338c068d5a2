//! The simulator's service behaviour at the HTTP level: authentication, api-version,
//! repeatability, errors, Event Grid in the CloudEvents schema, and callback tokens
//! that verify against the published JWKS.

mod support;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{Client, phone};
use switchboard_sim::hmac_auth::sign_request;

#[tokio::test]
async fn requests_without_a_valid_signature_get_401_7509() {
    let sim = support::start_sim(10.0).await;
    let wrong = Client::new(&sim).with_key("d3Jvbmcta2V5");
    let (status, body) = wrong
        .send(reqwest::Method::GET, "/calling/callConnections/x", None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "7509");
    assert_eq!(body["error"]["message"], "HMAC-SHA256 validation failed");

    let bare = reqwest::get(format!(
        "{}/calling/callConnections/x?api-version=2025-05-15",
        sim.http_url()
    ))
    .await
    .expect("get");
    assert_eq!(bare.status(), 401);
    let body: Value = bare.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("Authorization"),
        "{body}"
    );

    // A stale x-ms-date.
    let client = Client::new(&sim);
    let path = "/calling/callConnections/x?api-version=2025-05-15";
    let old = SystemTime::now() - Duration::from_secs(3600);
    let mut request = reqwest::Client::new().get(format!("{}{path}", sim.http_url()));
    for (name, value) in sign_request(&client.key, "GET", path, &client.host, b"", old) {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("x-ms-date"),
        "{body}"
    );

    // A body that is not the one signed.
    let signed = client.request(
        reqwest::Method::POST,
        "/calling/callConnections",
        Some(&json!({"a": 1})),
    );
    let response = signed.body("{\"a\":2}").send().await.expect("send");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn api_versions_and_unknown_calls_get_the_service_errors() {
    let sim = support::start_sim(10.0).await;
    let client = Client::new(&sim);
    let (status, body) = client
        .send(reqwest::Method::GET, "/calling/callConnections/nope", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("8522"))
    );

    let path = "/calling/callConnections/nope?api-version=2019-01-01";
    let mut request = reqwest::Client::new().get(format!("{}{path}", sim.http_url()));
    for (name, value) in sign_request(
        &client.key,
        "GET",
        path,
        &client.host,
        b"",
        SystemTime::now(),
    ) {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "UnsupportedApiVersion");

    let (status, body) = client
        .post(
            "/calling/callConnections:answer",
            &json!({"callbackUri": "http://x/cb"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("incomingCallContext"),
        "{body}"
    );
    let (status, body) = client
        .post(
            "/calling/callConnections",
            &json!({"targets": [], "callbackUri": "http://x/cb"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = client
        .send(
            reqwest::Method::POST,
            "/calling/callConnections:dance",
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_retried_request_returns_the_first_response_without_a_second_effect() {
    let sim = support::start_sim(10.0).await;
    let client = Client::new(&sim);
    let body = json!({"targets": [phone("+15550001111")], "sourceCallerIdNumber": {"value": "+18005550100"}, "callbackUri": "http://127.0.0.1:9/cb"});
    let id = uuid::Uuid::new_v4().to_string();
    let first_sent = httpdate::fmt_http_date(SystemTime::now());
    let send = |body: Value| {
        client
            .request(
                reqwest::Method::POST,
                "/calling/callConnections",
                Some(&body),
            )
            .header("Repeatability-Request-ID", &id)
            .header("Repeatability-First-Sent", &first_sent)
            .send()
    };
    let first = send(body.clone()).await.expect("first");
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["Repeatability-Result"], "accepted");
    let first: Value = first.json().await.expect("json");
    let second: Value = send(body.clone())
        .await
        .expect("retry")
        .json()
        .await
        .expect("json");
    assert_eq!(first["callConnectionId"], second["callConnectionId"]);
    let calls: Value = reqwest::get(format!("{}/sim/calls", sim.http_url()))
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        calls["calls"].as_array().expect("calls").len(),
        1,
        "one call for two requests: {calls}"
    );

    let mut other = body;
    other["operationContext"] = json!("different");
    let reused = send(other).await.expect("reuse");
    assert_eq!(reused.status(), 400);
}

#[tokio::test]
async fn cloudevents_subscriptions_are_validated_and_get_cloudevents() {
    let sim = support::start_sim(10.0).await;
    let (base, seen) = support::recorder().await;
    support::subscribe(
        &sim,
        json!({"endpoint": format!("{base}/events"), "schema": "cloud-events"}),
    )
    .await;
    let placed = support::ring(&sim).await;
    for _ in 0..100 {
        if seen.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(
        seen[0].0["webhook-request-origin"], "eventgrid.azure.net",
        "handshake first"
    );
    let (headers, body) = &seen[1];
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/cloudevents")
    );
    let event = &body[0];
    assert_eq!(event["type"], "Microsoft.Communication.IncomingCall");
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(
        event["data"]["incomingCallContext"],
        placed["incomingCallContext"]
    );
}

#[tokio::test]
async fn event_grid_subscriptions_that_fail_validation_are_refused() {
    let sim = support::start_sim(10.0).await;
    let (base, _) = support::recorder().await; // answers 200 without echoing the code
    let (status, body) = support::sim_post(
        &sim,
        "/sim/subscriptions",
        &json!({"endpoint": format!("{base}/events")}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("validation code"),
        "{body}"
    );
}

#[tokio::test]
async fn callback_tokens_verify_against_the_published_keys() {
    let sim = support::start_sim(10.0).await;
    let (base, seen) = support::recorder().await;
    let client = Client::new(&sim);
    let placed = support::ring(&sim).await;
    let (status, _) = client
        .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{base}/cb")}))
        .await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        if !seen.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let auth = seen.lock().expect("lock")[0].0["authorization"]
        .to_str()
        .expect("auth")
        .to_owned();
    let token = auth.strip_prefix("Bearer ").expect("bearer");

    let http = reqwest::Client::new();
    let oidc: Value = http
        .get(format!(
            "{}/calling/.well-known/acsopenidconfiguration",
            sim.http_url()
        ))
        .send()
        .await
        .expect("oidc")
        .json()
        .await
        .expect("json");
    assert_eq!(
        oidc["issuer"],
        "https://acscallautomation.communication.azure.com"
    );
    let jwks_uri = oidc["jwks_uri"].as_str().expect("jwks_uri").replace(
        &format!("https://{}", sim.https.expect("https")),
        &sim.http_url(),
    );
    let jwks: Value = http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");

    let parts: Vec<&str> = token.split('.').collect();
    let header: Value =
        serde_json::from_slice(&B64URL.decode(parts[0]).expect("b64")).expect("header");
    let claims: Value =
        serde_json::from_slice(&B64URL.decode(parts[1]).expect("b64")).expect("claims");
    assert_eq!(header["alg"], "RS256");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in JWKS");
    let n = BigUint::from_bytes_be(&B64URL.decode(jwk["n"].as_str().expect("n")).expect("n"));
    let e = BigUint::from_bytes_be(&B64URL.decode(jwk["e"].as_str().expect("e")).expect("e"));
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::new(n, e).expect("key"));
    let signature =
        Signature::try_from(B64URL.decode(parts[2]).expect("sig").as_slice()).expect("sig");
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("signature verifies");
    assert_eq!(claims["aud"], sim.sim.config.resource_id);
    assert_eq!(claims["iss"], oidc["issuer"]);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 300, "5-minute token: {claims}");
}

#[tokio::test]
async fn batched_subscriptions_get_several_events_per_request() {
    let sim = support::start_sim(10.0).await;
    let (base, seen) = support::recorder().await;
    support::subscribe(
        &sim,
        json!({"endpoint": format!("{base}/events"), "schema": "cloud-events", "max_events_per_batch": 10, "event_types": ["IncomingCall"]}),
    )
    .await;
    for _ in 0..3 {
        support::ring(&sim).await;
    }
    support::eventually("a batch", || seen.lock().expect("lock").len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().expect("lock");
    let deliveries: Vec<usize> = seen[1..]
        .iter()
        .map(|(_, body)| body.as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(
        deliveries,
        [3],
        "three IncomingCall events in one request: {deliveries:?}"
    );
}

#[tokio::test]
async fn a_scripted_caller_puts_the_call_on_hold_and_back() {
    let sim = support::start_sim(20.0).await;
    let (base, seen) = support::recorder().await;
    let caller = json!({"name": "holder", "from": "+14255550123", "to": "+18005550100", "hold_after": 1.0, "hold_for": 1.0});
    let placed: Value = reqwest::Client::new()
        .post(format!("{}/sim/calls", sim.http_url()))
        .json(&json!({"caller": caller}))
        .send()
        .await
        .expect("place")
        .json()
        .await
        .expect("json");
    let (status, _) = Client::new(&sim)
        .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{base}/cb")}))
        .await;
    assert_eq!(status, 200);
    let holds = || -> Vec<bool> {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|(_, body)| body[0]["type"] == "Microsoft.Communication.ParticipantsUpdated")
            .filter_map(|(_, body)| {
                let parts = body[0]["data"]["participants"].as_array()?;
                let caller = parts
                    .iter()
                    .find(|p| p["identifier"]["rawId"] == "4:+14255550123")?;
                caller["isOnHold"].as_bool()
            })
            .collect()
    };
    support::eventually("on hold, then off", || holds() == [false, true, false]).await;
}

/// Requests in `seen` whose body (or its first event) has `type`.
fn count_of_type(seen: &support::Seen, kind: &str) -> usize {
    seen.lock()
        .expect("lock")
        .iter()
        .filter(|(_, body)| body["type"] == kind || body[0]["type"] == kind)
        .count()
}

async fn wait_for_type(seen: &support::Seen, kind: &str) {
    support::eventually(&format!("a {kind} delivery"), || {
        count_of_type(seen, kind) > 0
    })
    .await;
}

#[tokio::test]
async fn a_spread_can_leave_callbacks_at_the_origin_of_their_uri() {
    let sim = support::start_sim(10.0).await;
    let (events, _) = support::recorder().await;
    let (balancer, spread_seen) = support::recorder().await;
    let (replica, replica_seen) = support::recorder().await;
    support::subscribe(
        &sim,
        json!({"endpoint": format!("{events}/events"), "schema": "cloud-events"}),
    )
    .await;
    let client = Client::new(&sim);
    let http = reqwest::Client::new();
    let spread = |body: Value| {
        http.put(format!("{}/sim/callback-spread", sim.http_url()))
            .json(&body)
            .send()
    };

    // Event Grid events only: the IncomingCall goes to the balancer, the call's
    // callbacks to the replica that answered.
    let shown: Value = spread(json!({"origins": [balancer], "callbacks": false}))
        .await
        .expect("put spread")
        .json()
        .await
        .expect("json");
    assert_eq!(shown["callbacks"], false);
    let placed = support::ring(&sim).await;
    wait_for_type(&spread_seen, "Microsoft.Communication.IncomingCall").await;
    let (status, _) = client
        .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{replica}/cb")}))
        .await;
    assert_eq!(status, 200);
    wait_for_type(&replica_seen, "Microsoft.Communication.CallConnected").await;
    let spread_connected =
        |seen: &support::Seen| count_of_type(seen, "Microsoft.Communication.CallConnected");
    assert_eq!(spread_connected(&spread_seen), 0, "a callback was spread");

    // The default spreads callbacks too.
    spread(json!({"origins": [balancer]}))
        .await
        .expect("put spread");
    let placed = support::ring(&sim).await;
    let (status, _) = client
        .post("/calling/callConnections:answer", &json!({"incomingCallContext": placed["incomingCallContext"], "callbackUri": format!("{replica}/cb")}))
        .await;
    assert_eq!(status, 200);
    wait_for_type(&spread_seen, "Microsoft.Communication.CallConnected").await;
    assert_eq!(
        spread_connected(&replica_seen),
        1,
        "only the first call's callback"
    );
}
