//! Callback authentication. The service signs every callback with a JWT (RS256, five
//! minutes, issuer and audience fixed per resource); receivers must validate it
//! against the keys its OpenID configuration publishes. Keys are cached and fetched
//! again when a token names a key id the cache does not hold (key rotation), at most
//! once a minute so forged key ids cannot make us hammer the service.
//!
//! A token that passed is remembered (by its SHA-256) until it expires: the service
//! sends the same token with many callbacks, and an RSA verification per callback
//! would be most of the host's work. Only the exact token string hits that cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest as _;
use tokio::sync::Mutex;

/// Why a callback was refused. The text is logged, never sent back in detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no `Authorization: Bearer …` header")]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token names key `{0}`, which the service does not publish")]
    UnknownKey(String),
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the service's keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

/// Validates callback tokens for one ACS resource.
#[derive(Debug)]
pub struct CallbackAuth {
    openid_configuration: String,
    audience: String,
    http: reqwest::Client,
    cache: Mutex<Keys>,
    /// SHA-256 of tokens that passed → their `exp` (Unix seconds).
    verified: std::sync::Mutex<HashMap<[u8; 32], u64>>,
}

#[derive(Debug, Default)]
struct Keys {
    issuer: String,
    by_kid: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

#[derive(Debug, Deserialize)]
struct Expiry {
    exp: u64,
}

/// How many verified tokens are remembered (the service uses a handful at a time).
const VERIFIED_CAPACITY: usize = 1024;

#[derive(Debug, Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
}

/// How often unknown key ids may trigger a fetch.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

impl CallbackAuth {
    /// `openid_configuration`: the service's (or the simulator's)
    /// `…/calling/.well-known/acsopenidconfiguration`; `audience`: the resource's
    /// immutable id.
    #[must_use]
    pub fn new(
        openid_configuration: impl Into<String>,
        audience: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            openid_configuration: openid_configuration.into(),
            audience: audience.into(),
            http,
            cache: Mutex::new(Keys::default()),
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Fetches the keys now if none are held (at startup, so the first callback does
    /// not wait for them). A failure is logged; callbacks fetch again when they need to.
    pub async fn warm(&self) {
        let mut cache = self.cache.lock().await;
        if cache.fetched.is_some() {
            return;
        }
        match self.fetch().await {
            Ok(keys) => *cache = keys,
            Err(e) => tracing::warn!(error = %e, "ingress.auth.warm: keys not fetched yet"),
        }
    }

    /// Validates the `Authorization` header of a callback.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if self.verified().get(&digest).is_some_and(|&exp| now < exp) {
            return Ok(());
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?}, expected RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Malformed("no key id (`kid`)".into()))?;
        let (key, issuer) = {
            let mut cache = self.cache.lock().await;
            let stale = cache
                .fetched
                .is_none_or(|at| at.elapsed() > REFETCH_AT_MOST_EVERY);
            if !cache.by_kid.contains_key(&kid) && stale {
                *cache = self.fetch().await?;
            }
            let key = cache
                .by_kid
                .get(&kid)
                .cloned()
                .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
            (key, cache.issuer.clone())
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Expiry>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, exp| now < *exp);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(digest, claims.exp);
        Ok(())
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], u64>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self) -> Result<Keys, AuthError> {
        let config: OpenIdConfiguration = self.get_json(&self.openid_configuration).await?;
        let set: JwkSet = self.get_json(&config.jwks_uri).await?;
        let by_kid = set
            .keys
            .iter()
            .filter_map(|jwk| {
                Some((
                    jwk.common.key_id.clone()?,
                    Arc::new(DecodingKey::from_jwk(jwk).ok()?),
                ))
            })
            .collect();
        Ok(Keys {
            issuer: config.issuer,
            by_kid,
            fetched: Some(Instant::now()),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(format!("{url}: {e}"));
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}
