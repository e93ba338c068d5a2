//! The Call Automation REST client.
//!
//! - [`credential`]: connection string and HMAC-SHA256 signing.
//! - [`events`]: CloudEvents callbacks and Event Grid deliveries as contract events.
//! - [`requests`]: every contract action as the REST request that carries it out.
//! - [`wire`]: contract values in the service's JSON shapes.
//! - [`Client`]: signs, tags mutating requests with `Repeatability-Request-ID` /
//!   `-First-Sent`, and retries 429 (honouring `Retry-After`), 5xx and timeouts with
//!   exponential backoff and jitter, reusing the repeatability id so the service
//!   carries the operation out once.
//!
//! Must not: decide anything about calls; it carries requests.

pub mod credential;
pub mod events;
pub mod requests;
pub mod wire;

use std::time::{Duration, SystemTime};

use rand::Rng;
use serde_json::Value;

pub use credential::{ConnectionStringError, Credential};
pub use requests::{CallRef, Method, Request, RequestError};

/// How requests are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time, with ±50 % jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A request the service refused, or could not be reached for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcsError {
    /// The service answered with an error (after retries, for retryable ones).
    #[error("the service answered {status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer (connection refused, timeout) after every attempt.
    #[error("the service could not be reached: {0}")]
    Unreachable(String),
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// The `Repeatability-Request-ID` and `Repeatability-First-Sent` of one request: made
/// once, sent with every attempt, and persisted with the decision, so that a request
/// sent again (a retry, or a replay after a restart) is the same request to the
/// service, which carries it out once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Repeatability {
    pub id: String,
    /// IMF-fixdate.
    pub first_sent: String,
}

impl Repeatability {
    #[must_use]
    pub fn new() -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            first_sent: httpdate::fmt_http_date(SystemTime::now()),
        }
    }
}

impl Default for Repeatability {
    fn default() -> Self {
        Self::new()
    }
}

/// The REST client of one ACS resource.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    credential: Credential,
    api_version: String,
    retry: RetryPolicy,
}

impl Client {
    pub fn new(
        credential: Credential,
        retry: RetryPolicy,
        extra_roots: &[reqwest::Certificate],
    ) -> reqwest::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .pool_max_idle_per_host(64);
        for root in extra_roots {
            http = http.add_root_certificate(root.clone());
        }
        Ok(Self {
            http: http.build()?,
            credential,
            api_version: "2025-05-15".into(),
            retry,
        })
    }

    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.credential.endpoint
    }

    /// Sends a request, retrying as the policy says; a repeatable operation carries
    /// `repeatability` on every attempt.
    pub async fn send(
        &self,
        request: &Request,
        repeatability: &Repeatability,
    ) -> Result<Response, AcsError> {
        let path_and_query = format!("{}?api-version={}", request.path, self.api_version);
        let url = format!("{}{path_and_query}", self.credential.endpoint);
        let body = request
            .body
            .as_ref()
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default();
        let repeatability = request.repeatable.then_some(repeatability);
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self.http.request(method.clone(), &url);
            for (name, value) in
                self.credential
                    .sign(method.as_str(), &path_and_query, &body, SystemTime::now())
            {
                builder = builder.header(name, value);
            }
            if let Some(repeatability) = repeatability {
                builder = builder
                    .header("Repeatability-Request-ID", &repeatability.id)
                    .header("Repeatability-First-Sent", &repeatability.first_sent);
            }
            if request.body.is_some() {
                builder = builder
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let outcome = builder.send().await;
            let (retry_after, error) = match outcome {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if status < 400 {
                        return Ok(Response {
                            status,
                            body,
                            attempts: attempt,
                        });
                    }
                    let error = AcsError::Status {
                        status,
                        code: body
                            .pointer("/error/code")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        message: body
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or(&text)
                            .to_owned(),
                    };
                    if !(status == 429 || status >= 500) {
                        return Err(error);
                    }
                    (retry_after, error)
                }
                Err(error) => (None, AcsError::Unreachable(error.to_string())),
            };
            if attempt >= self.retry.attempts {
                return Err(error);
            }
            let delay = retry_after
                .unwrap_or_else(|| self.backoff(attempt))
                .min(self.retry.max_delay);
            tracing::debug!(attempt, ?delay, %error, path = %request.path, "acs.retry");
            tokio::time::sleep(delay).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .retry
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        exponential.mul_f64(jitter)
    }
}
