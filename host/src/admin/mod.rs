//! The admin API (`/v1/…`, JSON): what operators and tenants use to manage tenants,
//! keys, plugins and routes. `GET /v1/openapi.json` describes it.
//!
//! - `Authorization: Bearer <operator token>`: the operator; every route, any tenant.
//! - `Authorization: Bearer sbk_…`: a tenant's key; only routes under
//!   `/v1/tenants/{its id}/…`. Another tenant's id answers 404, exactly like an id that
//!   does not exist, so existence does not leak.
//! - Failed authentications are counted per client address; past the allowance a
//!   minute, 429 until the minute is over.
//!
//! - `handlers`: the routes.
//! - [`openapi`]: the OpenAPI document.
//! - [`client`]: a client of this API (the CLI's).

pub mod client;
mod handlers;
pub mod openapi;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::config::{AdminSettings, RuntimeSettings};
use crate::runtime::{Limits, Runtime};
use crate::store::{Store, StoreError};

pub use handlers::router;

/// What the admin handlers share.
#[derive(Debug)]
pub struct Admin {
    pub store: Store,
    pub runtime: Arc<Runtime>,
    pub settings: AdminSettings,
    /// The operator's maxima for tenant limits.
    pub ceilings: RuntimeSettings,
    /// Limits of tenants that set none.
    pub default_limits: Limits,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Admin {
    #[must_use]
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        settings: AdminSettings,
        ceilings: RuntimeSettings,
        default_limits: Limits,
    ) -> Self {
        Self {
            store,
            runtime,
            settings,
            ceilings,
            default_limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` has failed too often this minute; counts this failure.
    fn note_failure(&self, client: IpAddr) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() > Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    fn blocked(&self, client: IpAddr) -> bool {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.get(&client).is_some_and(|(since, count)| {
            since.elapsed() <= Duration::from_secs(60)
                && *count >= self.settings.failed_auth_per_minute
        })
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Tenant(String),
}

impl Caller {
    /// Whether the caller may act on `tenant` (else: 404, as if it did not exist).
    fn may_act_on(&self, tenant: &str) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(own) if own == tenant => Ok(()),
            Caller::Tenant(_) => Err(ApiError::not_found(format!("tenant `{tenant}`"))),
        }
    }

    fn operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs the operator token",
            )),
        }
    }
}

impl FromRequestParts<Arc<Admin>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        admin: &Arc<Admin>,
    ) -> Result<Self, Self::Rejection> {
        let client = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if admin.blocked(client) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-failures",
                "too many failed authentications from this address; wait a minute",
            ));
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            admin.note_failure(client);
            return Err(ApiError::unauthorized());
        };
        if let Some(operator) = &admin.settings.operator_token
            && bool::from(operator.0.as_bytes().ct_eq(token.as_bytes()))
        {
            return Ok(Caller::Operator);
        }
        match admin.store.authenticate_key(token).await? {
            Some(tenant) => Ok(Caller::Tenant(tenant)),
            None => {
                admin.note_failure(client);
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// A request on one tenant's resources (`/v1/tenants/{tenant}/…`) by a caller allowed
/// to act on that tenant: every such route starts with this check, so none can forget it.
#[derive(Debug)]
pub struct Scoped {
    pub caller: Caller,
    pub tenant: String,
    params: HashMap<String, String>,
}

impl Scoped {
    /// Another path parameter (`plugin`, `key`, `address`).
    fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::invalid(format!("the path has no `{name}`")))
    }
}

impl FromRequestParts<Arc<Admin>> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        admin: &Arc<Admin>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, admin).await?;
        let axum::extract::Path(params) =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, admin)
                .await
                .map_err(|e| ApiError::invalid(e.body_text()))?;
        let tenant = params
            .get("tenant")
            .cloned()
            .ok_or_else(|| ApiError::invalid("the path names no tenant"))?;
        caller.may_act_on(&tenant)?;
        Ok(Self {
            caller,
            tenant,
            params,
        })
    }
}

/// An error answer: `{"error": {"code": …, "message": …}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    fn not_found(what: String) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <operator token or tenant key>`",
        )
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::Invalid(message) => Self::invalid(message),
            other => {
                tracing::error!(error = %other, "admin.store");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "the store failed; try again",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(detail), Some(object)) = (self.detail, error.as_object_mut()) {
            object.insert("detail".into(), detail);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}
