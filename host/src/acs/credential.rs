//! The connection string and HMAC-SHA256 request signing of Azure Communication
//! Services (`../shared/reference/NOTES.md` §1).

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What is wrong with a connection string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("the connection string has no `endpoint=`")]
    MissingEndpoint,
    #[error("the connection string has no `accesskey=`")]
    MissingKey,
    #[error("the endpoint `{0}` is not an http(s) URL")]
    BadEndpoint(String),
    #[error("the access key is not base64")]
    BadKey,
}

/// A resource's endpoint and access key.
#[derive(Clone)]
pub struct Credential {
    /// `https://host[:port]`, no trailing slash.
    pub endpoint: String,
    /// `host[:port]` as signed.
    pub host: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Parses `endpoint=https://…/;accesskey=…`: `;`-separated, each split on its first
    /// `=` (base64 padding survives), keys compared case-insensitively.
    pub fn from_connection_string(text: &str) -> Result<Self, ConnectionStringError> {
        let mut endpoint = None;
        let mut key = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((name, value)) = part.split_once('=') {
                match name.to_ascii_lowercase().as_str() {
                    "endpoint" => endpoint = Some(value.trim_end_matches('/').to_owned()),
                    "accesskey" => key = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        let endpoint = endpoint.ok_or(ConnectionStringError::MissingEndpoint)?;
        let key = key.ok_or(ConnectionStringError::MissingKey)?;
        let host = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| ConnectionStringError::BadEndpoint(endpoint.clone()))?
            .to_owned();
        let key = B64.decode(key).map_err(|_| ConnectionStringError::BadKey)?;
        Ok(Self {
            endpoint,
            host,
            key,
        })
    }

    /// The headers that sign a request: `x-ms-date`, `x-ms-content-sha256`,
    /// `Authorization`.
    #[must_use]
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> [(&'static str, String); 3] {
        let date = httpdate::fmt_http_date(now);
        let hash = B64.encode(Sha256::digest(body));
        let to_sign = format!("{method}\n{path_and_query}\n{date};{};{hash}", self.host);
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(to_sign.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        [
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "cnVzdC1hY3MtZW11bGF0b3ItdGVzdC1rZXktMzJieXQ=";

    #[test]
    fn signs_the_reference_vectors() {
        // NOTES.md §1.4, vectors A and D.
        let date = httpdate::parse_http_date("Tue, 14 Oct 2025 12:00:00 GMT").expect("date");
        let body = br#"{"targets":[{"kind":"communicationUser","rawId":"8:acs:target","communicationUser":{"id":"8:acs:target"}}],"callbackUri":"https://app.contoso.com/callback"}"#;
        let c = Credential::from_connection_string(&format!(
            "endpoint=https://contoso.communication.azure.com/;accesskey={KEY}"
        ))
        .expect("parse");
        let [date_h, hash, auth] = c.sign(
            "POST",
            "/calling/callConnections?api-version=2025-05-15",
            body,
            date,
        );
        assert_eq!(date_h.1, "Tue, 14 Oct 2025 12:00:00 GMT");
        assert_eq!(hash.1, "XVZucQnMdcF4Vx5470OzWvqofQI6JzuXnofOooMAeaU=");
        assert!(
            auth.1
                .ends_with("Signature=fft5uiAr+ljITxwqn9rOwDB1/T6pQ8GS6GYIjW9HWY0="),
            "{}",
            auth.1
        );
        let local = Credential::from_connection_string(&format!(
            "Endpoint=https://127.0.0.1:8443;AccessKey={KEY}"
        ))
        .expect("parse");
        let [_, _, auth] = local.sign("POST", "/calling/callConnections/18dea47f-b081-4107-9a5c-4300819d2c6c:terminate?api-version=2025-05-15", b"", date);
        assert!(
            auth.1
                .ends_with("Signature=80RhhGHRsnjQv6TjnHROMuzissbSXybNDtfA4KBhoOc="),
            "{}",
            auth.1
        );
    }

    #[test]
    fn bad_connection_strings_say_what_is_wrong() {
        let parse = Credential::from_connection_string;
        assert_eq!(
            parse("accesskey=pw==").expect_err("must fail"),
            ConnectionStringError::MissingEndpoint
        );
        assert_eq!(
            parse("endpoint=https://x").expect_err("must fail"),
            ConnectionStringError::MissingKey
        );
        assert_eq!(
            parse("endpoint=ftp://x;accesskey=pw==").expect_err("must fail"),
            ConnectionStringError::BadEndpoint("ftp://x".into())
        );
        assert_eq!(
            parse("endpoint=https://x;accesskey=!!").expect_err("must fail"),
            ConnectionStringError::BadKey
        );
    }
}
