//! The admin routes. Every route under `/v1/tenants/{tenant}` checks the caller may
//! act on that tenant before anything else.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Admin, ApiError, Caller, Scoped, openapi};
use crate::contract::ConfigEntry;
use crate::runtime::Limits;
use crate::runtime::validate::validate;

type Answer = Result<Response, ApiError>;

/// The admin routes, to merge into the host's router.
pub fn router(admin: Arc<Admin>) -> Router {
    let upload_limit = admin.settings.max_upload_bytes;
    Router::new()
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/tenants/{tenant}", get(show_tenant))
        .route("/v1/tenants/{tenant}/disable", post(disable_tenant))
        .route("/v1/tenants/{tenant}/enable", post(enable_tenant))
        .route("/v1/tenants/{tenant}/limits", put(set_limits))
        .route("/v1/tenants/{tenant}/config", put(set_config))
        .route("/v1/tenants/{tenant}/secrets", put(set_secrets))
        .route("/v1/tenants/{tenant}/keys", post(create_key).get(list_keys))
        .route("/v1/tenants/{tenant}/keys/{key}", delete(revoke_key))
        .route("/v1/tenants/{tenant}/plugins", get(list_plugins))
        .route("/v1/tenants/{tenant}/plugins/{plugin}", get(show_plugin))
        .route(
            "/v1/tenants/{tenant}/plugins/{plugin}/versions",
            post(upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/v1/tenants/{tenant}/plugins/{plugin}/activate",
            post(activate),
        )
        .route(
            "/v1/tenants/{tenant}/plugins/{plugin}/rollback",
            post(rollback),
        )
        .route(
            "/v1/tenants/{tenant}/routes",
            post(add_route).get(list_routes),
        )
        .route(
            "/v1/tenants/{tenant}/routes/{address}",
            delete(remove_route),
        )
        .route("/v1/tenants/{tenant}/calls", get(list_calls))
        .route("/v1/tenants/{tenant}/calls/{call}", get(show_call))
        .with_state(admin)
}

/// A JSON body as `T`, or why not: 415 without a JSON content type, 413 past the body
/// limit, 400 for bad syntax or the wrong shape, with the path of the field at fault.
/// Only an object (or `null`) is taken: serde would also fill a record from an array,
/// by position (`[1, 2, 3]` as limits), which no client means.
fn json_body<T: DeserializeOwned>(body: Result<Json<Value>, JsonRejection>) -> Result<T, ApiError> {
    let Json(value) = body.map_err(|rejection| match rejection.status() {
        status @ StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported-media-type", rejection.body_text())
        }
        status @ StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "too-large", rejection.body_text())
        }
        _ => ApiError::invalid(rejection.body_text()),
    })?;
    if !(value.is_object() || value.is_null()) {
        return Err(ApiError::invalid(format!(
            "the body must be a JSON object, not {}",
            match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            }
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ApiError::invalid(if path == "." {
            format!("the body does not fit: {}", error.inner())
        } else {
            format!("`{path}`: {}", error.inner())
        })
    })
}

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

fn created(value: impl serde::Serialize) -> Answer {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

async fn create_tenant(
    State(admin): State<Arc<Admin>>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    caller.operator()?;
    let new: NewTenant = json_body(body)?;
    let name = new.name.unwrap_or_else(|| new.id.clone());
    created(admin.store.create_tenant(&new.id, &name).await?)
}

async fn list_tenants(State(admin): State<Arc<Admin>>, caller: Caller) -> Answer {
    match caller {
        Caller::Operator => ok(admin.store.tenants().await?),
        Caller::Tenant(own) => ok([admin.store.tenant(&own).await?]),
    }
}

async fn show_tenant(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin.store.tenant(&scope.tenant).await?)
}

async fn disable_tenant(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    scope.caller.operator()?;
    ok(admin.store.set_tenant_disabled(&scope.tenant, true).await?)
}

async fn enable_tenant(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    scope.caller.operator()?;
    ok(admin
        .store
        .set_tenant_disabled(&scope.tenant, false)
        .await?)
}

/// `null` returns the tenant to the defaults.
async fn set_limits(
    State(admin): State<Arc<Admin>>,
    scope: Scoped,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    scope.caller.operator()?;
    let limits: Option<Limits> = json_body(body)?;
    if let Some(limits) = &limits {
        admin
            .ceilings
            .check_limits(limits)
            .map_err(|above| ApiError::invalid(above.to_string()))?;
    }
    ok(admin
        .store
        .set_tenant_limits(&scope.tenant, limits.as_ref())
        .await?)
}

async fn set_config(
    State(admin): State<Arc<Admin>>,
    scope: Scoped,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let config: BTreeMap<String, String> = json_body(body)?;
    ok(admin
        .store
        .set_tenant_config(&scope.tenant, &config)
        .await?)
}

/// Answers with the tenant, which lists secret names, never values.
async fn set_secrets(
    State(admin): State<Arc<Admin>>,
    scope: Scoped,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let secrets: BTreeMap<String, String> = json_body(body)?;
    ok(admin
        .store
        .set_tenant_secrets(&scope.tenant, &secrets)
        .await?)
}

async fn create_key(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    created(admin.store.create_key(&scope.tenant).await?)
}

async fn list_keys(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin.store.keys(&scope.tenant).await?)
}

async fn revoke_key(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    admin
        .store
        .revoke_key(&scope.tenant, scope.param("key")?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_plugins(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin.store.plugins(&scope.tenant).await?)
}

async fn show_plugin(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin
        .store
        .plugin(&scope.tenant, scope.param("plugin")?)
        .await?)
}

/// The component's bytes are the body. Validated (and precompiled) before stored.
async fn upload(State(admin): State<Arc<Admin>>, scope: Scoped, body: Bytes) -> Answer {
    crate::store::check_id("plugin", scope.param("plugin")?)?;
    let record = admin.store.tenant(&scope.tenant).await?;
    let limits = record.limits.unwrap_or(admin.default_limits);
    let secrets = admin.store.tenant_secrets(&scope.tenant).await?;
    let config = record
        .config
        .into_iter()
        .chain(secrets)
        .map(|(key, value)| ConfigEntry { key, value })
        .collect();
    let runtime = Arc::clone(&admin.runtime);
    let bytes_for_check = body.clone();
    let checked = tokio::task::spawn_blocking(move || {
        validate(&runtime, &bytes_for_check, &limits, config).map(|_| ())
    })
    .await
    .map_err(|e| ApiError::invalid(format!("validation did not finish: {e}")))?;
    if let Err(rejected) = checked {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-component",
            rejected.to_string(),
        )
        .with_detail(json!({"check": rejected.check})));
    }
    let version = admin
        .store
        .add_plugin_version(&scope.tenant, scope.param("plugin")?, &body)
        .await?;
    created(version)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Activate {
    sha256: String,
}

async fn activate(
    State(admin): State<Arc<Admin>>,
    scope: Scoped,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let Activate { sha256 } = json_body(body)?;
    ok(admin
        .store
        .activate(&scope.tenant, scope.param("plugin")?, &sha256)
        .await?)
}

async fn rollback(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin
        .store
        .rollback(&scope.tenant, scope.param("plugin")?)
        .await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoute {
    address: String,
    plugin: String,
}

async fn add_route(
    State(admin): State<Arc<Admin>>,
    scope: Scoped,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let route: NewRoute = json_body(body)?;
    created(
        admin
            .store
            .add_route(&scope.tenant, &route.address, &route.plugin)
            .await?,
    )
}

async fn list_routes(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin.store.routes(&scope.tenant).await?)
}

async fn remove_route(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    admin
        .store
        .remove_route(&scope.tenant, scope.param("address")?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The 100 most recent calls.
async fn list_calls(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin.store.calls(&scope.tenant, 100).await?)
}

/// A call's timeline: every event handled, what was decided, what ran, how long.
async fn show_call(State(admin): State<Arc<Admin>>, scope: Scoped) -> Answer {
    ok(admin
        .store
        .call_events(&scope.tenant, scope.param("call")?)
        .await?)
}
