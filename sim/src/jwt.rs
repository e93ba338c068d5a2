//! The tokens the simulator signs its callbacks with, and what receivers need to check
//! them: an OpenID configuration and a JWKS, served like the service's
//! (`/calling/.well-known/acsopenidconfiguration`, `/calling/keys`).
//!
//! Tokens are RS256 JWTs valid 5 minutes, one reused for the deliveries of a minute
//! (RSA signing costs a millisecond; the service's tokens are reused too), issued by
//! `https://acscallautomation.communication.azure.com` for the audience of the
//! resource's immutable id (NOTES.md §8), so receivers validate them exactly as they
//! validate the service's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The service's token issuer.
pub const ISSUER: &str = "https://acscallautomation.communication.azure.com";
/// How long a callback token is valid.
pub const LIFETIME: Duration = Duration::from_secs(300);
/// How long one token is used for deliveries (well within its lifetime).
pub const REISSUE_AFTER: Duration = Duration::from_secs(60);

/// Signs callback tokens.
pub struct TokenSigner {
    key: SigningKey<Sha256>,
    kid: String,
    jwk: Value,
    issuer: String,
    audience: String,
    /// The token deliveries use now, and when it was issued.
    current: std::sync::Mutex<Option<(SystemTime, String)>>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with a new 2048-bit key from `rng`.
    pub fn generate(
        rng: &mut (impl rand::CryptoRng + rand::RngCore),
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Self> {
        let key = RsaPrivateKey::new(rng, 2048)?;
        Ok(Self::from_key(key, issuer, audience))
    }

    /// A signer with a key from a PKCS#8 PEM (so tokens survive restarts).
    pub fn from_pem(pem: &str, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        Ok(Self::from_key(
            RsaPrivateKey::from_pkcs8_pem(pem)?,
            issuer,
            audience,
        ))
    }

    fn from_key(key: RsaPrivateKey, issuer: &str, audience: &str) -> Self {
        let n = B64URL.encode(key.n().to_bytes_be());
        let e = B64URL.encode(key.e().to_bytes_be());
        let kid = B64URL.encode(&Sha256::digest(n.as_bytes())[..12]);
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Self {
            key: SigningKey::new(key),
            kid,
            jwk,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            current: std::sync::Mutex::new(None),
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn to_pem(&self) -> anyhow::Result<String> {
        let key: &RsaPrivateKey = self.key.as_ref();
        Ok(key.to_pkcs8_pem(LineEnding::LF)?.to_string())
    }

    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The token for a callback delivery: the current one while it is younger than
    /// [`REISSUE_AFTER`], else a new one.
    #[must_use]
    pub fn current(&self, now: SystemTime) -> String {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*current {
            Some((issued, token))
                if now
                    .duration_since(*issued)
                    .is_ok_and(|age| age < REISSUE_AFTER) =>
            {
                token.clone()
            }
            _ => {
                let token = self.token(now);
                *current = Some((now, token.clone()));
                token
            }
        }
    }

    /// A new token.
    #[must_use]
    pub fn token(&self, now: SystemTime) -> String {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.sign(&json!({
            "iss": self.issuer,
            "aud": self.audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + LIFETIME.as_secs(),
        }))
    }

    /// Signs arbitrary claims (tests use it to mint expired or foreign tokens).
    #[must_use]
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let signature = self.key.sign(signing_input.as_bytes()).to_bytes();
        format!("{signing_input}.{}", B64URL.encode(signature))
    }

    /// The JWKS document.
    #[must_use]
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// The OpenID configuration document, for a simulator reachable at `base_url`.
    #[must_use]
    pub fn openid_configuration(&self, base_url: &str) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{base_url}/calling/keys"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
    }
}
