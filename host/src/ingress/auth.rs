//! Callback authentication. The service signs every callback with a JWT (RS256, five
//! minutes, issuer and audience fixed per resource); receivers must validate it
//! against the keys its OpenID configuration publishes. Keys are cached and fetched
//! again when a token names a key id the cache does not hold (key rotation), at most
//! once a minute so forged key ids cannot make us hammer the service.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
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
}

#[derive(Debug, Default)]
struct Keys {
    issuer: String,
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

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
            .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&cache.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map(|_| ())
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    async fn fetch(&self) -> Result<Keys, AuthError> {
        let config: OpenIdConfiguration = self.get_json(&self.openid_configuration).await?;
        let set: JwkSet = self.get_json(&config.jwks_uri).await?;
        let by_kid = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
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
