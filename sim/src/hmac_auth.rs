//! HMAC-SHA256 request authentication, verified as the service does (NOTES.md §1).
//!
//! A signed request carries `x-ms-date`, `x-ms-content-sha256` (base64 SHA-256 of the
//! body) and `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=…`,
//! the signature being HMAC-SHA256, keyed with the base64-decoded access key, of
//! `VERB\nPATH_AND_QUERY\nDATE;HOST;CONTENT_HASH`.
//!
//! SDKs disagree on the host they sign (with or without the port; JS once doubled it),
//! so the received `Host` is tried as sent, without its port, and with the port of
//! the listener.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

type HmacSha256 = Hmac<Sha256>;

/// How far `x-ms-date` may be from now (the service does not document it; App
/// Configuration's identical scheme allows 15 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a request was not authenticated. The message is sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "missing header `{0}`: requests must be signed with HMAC-SHA256 (or carry a bearer token)"
    )]
    MissingHeader(&'static str),
    #[error("malformed Authorization header: expected `HMAC-SHA256 SignedHeaders=…&Signature=…`")]
    MalformedAuthorization,
    #[error("header `{0}` is listed in SignedHeaders but not sent")]
    MissingSignedHeader(String),
    #[error("x-ms-content-sha256 does not match the SHA-256 of the body")]
    BodyHashMismatch,
    #[error("x-ms-date `{0}` is not an RFC 1123 date")]
    BadDate(String),
    #[error("x-ms-date is {0} s away from the server's clock (more than 15 minutes)")]
    StaleDate(u64),
    #[error("HMAC-SHA256 validation failed")]
    BadSignature,
}

/// An access key, as in a connection string (`accesskey=<base64>`).
#[derive(Clone)]
pub struct AccessKey(Vec<u8>);

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(…)")
    }
}

impl AccessKey {
    /// Decodes a base64 access key.
    pub fn from_base64(key: &str) -> Result<Self, base64::DecodeError> {
        B64.decode(key.trim()).map(Self)
    }

    #[must_use]
    pub fn to_base64(&self) -> String {
        B64.encode(&self.0)
    }

    /// `base64(HMAC-SHA256(key, message))`.
    #[must_use]
    pub fn sign(&self, message: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any size");
        mac.update(message.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    fn verify(&self, message: &str, signature: &[u8]) -> bool {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any size");
        mac.update(message.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(signature).is_ok()
    }
}

/// `base64(SHA-256(body))`.
#[must_use]
pub fn content_hash(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

/// The parts of a request the signature covers.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// Header lookup, case-insensitive.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    pub body: &'a [u8],
    /// The port the request came in on, to try `host:port` when `Host` lacks it.
    pub listener_port: u16,
}

impl std::fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .finish_non_exhaustive()
    }
}

/// Verifies a request's signature. `now` is the server's clock.
pub fn verify(
    key: &AccessKey,
    request: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<(), AuthError> {
    let authorization =
        (request.header)("authorization").ok_or(AuthError::MissingHeader("Authorization"))?;
    let rest = authorization
        .strip_prefix("HMAC-SHA256 ")
        .ok_or(AuthError::MalformedAuthorization)?;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split('&') {
        match part.split_once('=') {
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            // The signature is base64 and may itself end in `=`.
            Some(("Signature", _)) => signature = Some(&part["Signature=".len()..]),
            _ => return Err(AuthError::MalformedAuthorization),
        }
    }
    let (Some(signed_headers), Some(signature)) = (signed_headers, signature) else {
        return Err(AuthError::MalformedAuthorization);
    };
    let signature = B64
        .decode(signature)
        .map_err(|_| AuthError::MalformedAuthorization)?;

    let hash = (request.header)("x-ms-content-sha256")
        .ok_or(AuthError::MissingHeader("x-ms-content-sha256"))?;
    if hash != content_hash(request.body) {
        return Err(AuthError::BodyHashMismatch);
    }
    let date = (request.header)("x-ms-date")
        .or_else(|| (request.header)("date"))
        .ok_or(AuthError::MissingHeader("x-ms-date"))?;
    let sent = httpdate::parse_http_date(date).map_err(|_| AuthError::BadDate(date.to_owned()))?;
    let skew = now
        .duration_since(sent)
        .or_else(|_| sent.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(AuthError::StaleDate(skew.as_secs()));
    }

    // The values of the signed headers, in order; `host` may be signed in several forms.
    let names: Vec<&str> = signed_headers.split(';').collect();
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        let value = (request.header)(&name.to_ascii_lowercase())
            .ok_or_else(|| AuthError::MissingSignedHeader((*name).to_owned()))?;
        values.push(value);
    }
    let host_index = names.iter().position(|n| n.eq_ignore_ascii_case("host"));
    let candidates: Vec<String> = match host_index {
        None => vec![String::new()],
        Some(i) => host_variants(values[i], request.listener_port),
    };
    for host in &candidates {
        let joined: Vec<&str> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if Some(i) == host_index {
                    host.as_str()
                } else {
                    v
                }
            })
            .collect();
        let message = format!(
            "{}\n{}\n{}",
            request.method,
            request.path_and_query,
            joined.join(";")
        );
        if key.verify(&message, &signature) {
            return Ok(());
        }
    }
    Err(AuthError::BadSignature)
}

/// The forms of the host an SDK may have signed: as received, without the port, with
/// the listener's port, and the doubled port an old JS SDK produced.
fn host_variants(received: &str, port: u16) -> Vec<String> {
    let bare = match received.rsplit_once(':') {
        Some((host, p)) if p.parse::<u16>().is_ok() => host,
        _ => received,
    };
    let mut variants = vec![
        received.to_owned(),
        bare.to_owned(),
        format!("{bare}:{port}"),
    ];
    variants.push(format!("{bare}:{port}:{port}"));
    variants.dedup();
    variants
}

/// Signs a request like the SDKs do; returns the headers to add. For tests and the
/// load generator.
#[must_use]
pub fn sign_request(
    key: &AccessKey,
    method: &str,
    path_and_query: &str,
    host: &str,
    body: &[u8],
    date: SystemTime,
) -> Vec<(&'static str, String)> {
    let date = httpdate::fmt_http_date(date);
    let hash = content_hash(body);
    let signature = key.sign(&format!("{method}\n{path_and_query}\n{date};{host};{hash}"));
    vec![
        ("x-ms-date", date),
        ("x-ms-content-sha256", hash),
        (
            "authorization",
            format!(
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base64(b"rust-acs-emulator-test-key-32byt"), NOTES.md §1.4.
    const KEY: &str = "cnVzdC1hY3MtZW11bGF0b3ItdGVzdC1rZXktMzJieXQ=";
    const DATE: &str = "Tue, 14 Oct 2025 12:00:00 GMT";
    const BODY: &[u8] = br#"{"targets":[{"kind":"communicationUser","rawId":"8:acs:target","communicationUser":{"id":"8:acs:target"}}],"callbackUri":"https://app.contoso.com/callback"}"#;
    const EMPTY_HASH: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    fn key() -> AccessKey {
        AccessKey::from_base64(KEY).expect("key")
    }

    #[test]
    fn official_sdk_vectors() {
        let k = AccessKey::from_base64("pw==").expect("key");
        assert_eq!(
            k.sign("banana"),
            "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="
        );
        assert_eq!(k.sign("😀"), "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU=");
    }

    #[test]
    fn notes_vectors_a_to_d() {
        assert_eq!(BODY.len(), 156);
        assert_eq!(
            content_hash(BODY),
            "XVZucQnMdcF4Vx5470OzWvqofQI6JzuXnofOooMAeaU="
        );
        assert_eq!(content_hash(b""), EMPTY_HASH);
        let host = "contoso.communication.azure.com";
        let cases = [
            (
                "POST",
                "/calling/callConnections?api-version=2025-05-15",
                host,
                BODY,
                "fft5uiAr+ljITxwqn9rOwDB1/T6pQ8GS6GYIjW9HWY0=",
            ),
            (
                "GET",
                "/calling/callConnections/18dea47f-b081-4107-9a5c-4300819d2c6c?api-version=2025-05-15",
                host,
                &b""[..],
                "QtnHANDP92fPHcOlsNNlZH0LPD1vK0onuqB4DQsH9eE=",
            ),
            (
                "GET",
                "/calling/callConnections/18dea47f-b081-4107-9a5c-4300819d2c6c/participants/8%3Aacs%3Aabc?api-version=2025-05-15",
                host,
                &b""[..],
                "SbimmLXyb/McOXoDlqxMFhdbuOLHyl71Gu6Aa/EskyA=",
            ),
            (
                "POST",
                "/calling/callConnections/18dea47f-b081-4107-9a5c-4300819d2c6c:terminate?api-version=2025-05-15",
                "127.0.0.1:8443",
                &b""[..],
                "80RhhGHRsnjQv6TjnHROMuzissbSXybNDtfA4KBhoOc=",
            ),
        ];
        for (method, path, host, body, expected) in cases {
            let hash = content_hash(body);
            let sig = key().sign(&format!("{method}\n{path}\n{DATE};{host};{hash}"));
            assert_eq!(sig, expected, "{method} {path}");
        }
    }

    fn check(
        headers: &[(&str, String)],
        host: &str,
        body: &[u8],
        port: u16,
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let lookup = |name: &str| -> Option<&str> {
            if name == "host" {
                return Some(host);
            }
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let request = SignedRequest {
            method: "POST",
            path_and_query: "/calling/callConnections?api-version=2025-05-15",
            header: &lookup,
            body,
            listener_port: port,
        };
        verify(&key(), &request, now)
    }

    #[test]
    fn verifies_each_sdk_host_form_and_refuses_tampering() {
        let now = SystemTime::now();
        let path = "/calling/callConnections?api-version=2025-05-15";
        // Python and .NET sign host:port; Java signs the bare host.
        for signed_host in ["127.0.0.1:8443", "127.0.0.1", "127.0.0.1:8443:8443"] {
            let headers = sign_request(&key(), "POST", path, signed_host, BODY, now);
            assert_eq!(
                check(&headers, "127.0.0.1:8443", BODY, 8443, now),
                Ok(()),
                "{signed_host}"
            );
        }
        let headers = sign_request(&key(), "POST", path, "127.0.0.1:8443", BODY, now);
        assert_eq!(
            check(&headers, "127.0.0.1:8443", b"{}", 8443, now),
            Err(AuthError::BodyHashMismatch)
        );
        let wrong = AccessKey::from_base64("d3Jvbmc=").expect("key");
        let forged = sign_request(&wrong, "POST", path, "127.0.0.1:8443", BODY, now);
        assert_eq!(
            check(&forged, "127.0.0.1:8443", BODY, 8443, now),
            Err(AuthError::BadSignature)
        );
        let later = now + Duration::from_secs(16 * 60);
        assert!(matches!(
            check(&headers, "127.0.0.1:8443", BODY, 8443, later),
            Err(AuthError::StaleDate(_))
        ));
        assert_eq!(
            check(&[], "h", BODY, 1, now),
            Err(AuthError::MissingHeader("Authorization"))
        );
    }
}
