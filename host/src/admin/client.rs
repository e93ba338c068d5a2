//! A client of the admin API, for the CLI (`switchboard tenant|key|plugin|route …`).
//! Its errors say what went wrong and what to do about it.

use serde_json::Value;

/// Why an admin request failed, for people.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no Switchboard answers at {url} ({cause}); is `switchboard serve` running there? Set --url or SWITCHBOARD_URL"
    )]
    Unreachable { url: String, cause: String },
    #[error(
        "the token was refused ({message}); pass the operator token or a tenant key with --token or SWITCHBOARD_TOKEN"
    )]
    Unauthorized { message: String },
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
}

/// Talks to one host's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    #[must_use]
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST path` with a JSON body (or none).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let mut request = self.http.post(self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(self.url(path))).await
    }

    /// `POST path` with bytes (a component).
    pub async fn upload(&self, path: &str, bytes: Vec<u8>) -> Result<Value, ClientError> {
        self.send(
            self.http
                .post(self.url(path))
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| {
            ClientError::Unreachable {
                url: self.base.clone(),
                cause: e.to_string(),
            }
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| text.clone(), str::to_owned);
        let message = match body.pointer("/error/detail/check").and_then(Value::as_str) {
            Some(check) => format!("{message} [failed check: {check}]"),
            None => message,
        };
        Err(if status == reqwest::StatusCode::UNAUTHORIZED {
            ClientError::Unauthorized { message }
        } else {
            ClientError::Refused {
                status: status.as_u16(),
                message,
            }
        })
    }
}
