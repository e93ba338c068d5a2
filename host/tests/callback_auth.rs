//! Callback tokens as the simulator signs them, validated against its published keys:
//! good tokens pass; missing, expired, wrongly signed, wrong-audience and foreign ones
//! are refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use serde_json::json;
use switchboard::ingress::auth::{AuthError, CallbackAuth};
use switchboard_sim::jwt::{ISSUER, TokenSigner};
use switchboard_sim::{Listen, SimConfig};

async fn setup() -> (switchboard_sim::Running, CallbackAuth) {
    let sim = switchboard_sim::start(SimConfig::default(), Listen::default())
        .await
        .expect("sim");
    let ca = reqwest::Certificate::from_pem(sim.ca_pem.as_bytes()).expect("ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("http");
    let url = format!(
        "{}/calling/.well-known/acsopenidconfiguration",
        sim.sim.base_url()
    );
    assert!(url.starts_with("https://"), "{url}");
    let auth = CallbackAuth::new(url, sim.sim.config.resource_id.clone(), http);
    (sim, auth)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_tokens_pass() {
    let (sim, auth) = setup().await;
    let token = sim.sim.signer.token(SystemTime::now());
    assert_eq!(auth.verify(Some(&format!("Bearer {token}"))).await, Ok(()));
    // Cached keys: a second token needs no fetch and passes too.
    let token = sim.sim.signer.token(SystemTime::now());
    assert_eq!(auth.verify(Some(&format!("Bearer {token}"))).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused() {
    let (sim, auth) = setup().await;
    let signer = &sim.sim.signer;
    let audience = sim.sim.config.resource_id.clone();
    assert_eq!(auth.verify(None).await, Err(AuthError::Missing));
    assert_eq!(
        auth.verify(Some("Basic abc")).await,
        Err(AuthError::Missing)
    );
    assert!(matches!(
        auth.verify(Some("Bearer not.a.jwt")).await,
        Err(AuthError::Malformed(_))
    ));

    let expired = signer
        .sign(&json!({"iss": ISSUER, "aud": audience, "iat": now() - 900, "exp": now() - 600}));
    assert!(
        matches!(auth.verify(Some(&format!("Bearer {expired}"))).await, Err(AuthError::Invalid(e)) if e.contains("Expired"))
    );

    let foreign_audience = signer
        .sign(&json!({"iss": ISSUER, "aud": "another-resource", "iat": now(), "exp": now() + 300}));
    assert!(
        matches!(auth.verify(Some(&format!("Bearer {foreign_audience}"))).await, Err(AuthError::Invalid(e)) if e.contains("Audience"))
    );

    let wrong_issuer = signer.sign(
        &json!({"iss": "https://evil.example", "aud": audience, "iat": now(), "exp": now() + 300}),
    );
    assert!(matches!(
        auth.verify(Some(&format!("Bearer {wrong_issuer}"))).await,
        Err(AuthError::Invalid(_))
    ));

    // A valid token with one signature byte changed, after the genuine one passed
    // (and was remembered as verified).
    let good = signer.token(SystemTime::now());
    assert_eq!(auth.verify(Some(&format!("Bearer {good}"))).await, Ok(()));
    let (head, signature) = good.rsplit_once('.').expect("jwt");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &signature[1..]);
    assert!(matches!(
        auth.verify(Some(&format!("Bearer {tampered}"))).await,
        Err(AuthError::Invalid(_))
    ));

    // Signed by someone else's key: its key id is not published.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let stranger = TokenSigner::generate(&mut rng, ISSUER, &audience).expect("signer");
    let forged = stranger.token(SystemTime::now() - Duration::from_secs(1));
    assert_eq!(
        auth.verify(Some(&format!("Bearer {forged}"))).await,
        Err(AuthError::UnknownKey(stranger.kid().to_owned()))
    );
}
