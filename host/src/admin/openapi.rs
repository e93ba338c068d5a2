//! The admin API's OpenAPI 3.1 document, built from one table of routes (the tests
//! call every route in it, so the table cannot drift from the router).

use serde_json::{Value, json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The operator token only.
    Operator,
    /// The operator, or a key of the tenant in the path.
    Tenant,
    /// No authentication.
    Public,
}

/// One route: method, path, access, summary.
pub const ROUTES: &[(&str, &str, Access, &str)] = &[
    ("get", "/v1/openapi.json", Access::Public, "This document."),
    (
        "post",
        "/v1/tenants",
        Access::Operator,
        "Create a tenant: {id, name?}.",
    ),
    (
        "get",
        "/v1/tenants",
        Access::Tenant,
        "List tenants (a tenant key sees its own).",
    ),
    (
        "get",
        "/v1/tenants/{tenant}",
        Access::Tenant,
        "Show a tenant (secret names, never values).",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/disable",
        Access::Operator,
        "Disable a tenant: calls not answered, keys refused.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/enable",
        Access::Operator,
        "Enable a tenant again.",
    ),
    (
        "put",
        "/v1/tenants/{tenant}/limits",
        Access::Operator,
        "Set the tenant's limits (Limits JSON, or null for the defaults); bounded by the operator's maxima.",
    ),
    (
        "put",
        "/v1/tenants/{tenant}/config",
        Access::Tenant,
        "Replace the config handed to the plugin: {key: value}.",
    ),
    (
        "put",
        "/v1/tenants/{tenant}/secrets",
        Access::Tenant,
        "Replace the secrets handed to the plugin: {key: value}; never shown again.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/keys",
        Access::Tenant,
        "Create an API key; its secret is in this answer only.",
    ),
    (
        "get",
        "/v1/tenants/{tenant}/keys",
        Access::Tenant,
        "List the tenant's keys (ids, never secrets).",
    ),
    (
        "delete",
        "/v1/tenants/{tenant}/keys/{key}",
        Access::Tenant,
        "Revoke a key.",
    ),
    (
        "get",
        "/v1/tenants/{tenant}/plugins",
        Access::Tenant,
        "List plugins and their versions.",
    ),
    (
        "get",
        "/v1/tenants/{tenant}/plugins/{plugin}",
        Access::Tenant,
        "Show a plugin: active and previous version, versions.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/plugins/{plugin}/versions",
        Access::Tenant,
        "Upload a component (body: its bytes). Checked: a component, compiles, the call-policy world, a smoke invocation within limits; 422 names the failed check.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/plugins/{plugin}/activate",
        Access::Tenant,
        "Activate a version: {sha256}. Calls in progress keep theirs.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/plugins/{plugin}/rollback",
        Access::Tenant,
        "Return to the previous version.",
    ),
    (
        "post",
        "/v1/tenants/{tenant}/routes",
        Access::Tenant,
        "Route an address (E.164 number or ACS identity) to a plugin: {address, plugin}.",
    ),
    (
        "get",
        "/v1/tenants/{tenant}/routes",
        Access::Tenant,
        "List the tenant's routes.",
    ),
    (
        "delete",
        "/v1/tenants/{tenant}/routes/{address}",
        Access::Tenant,
        "Remove a route.",
    ),
];

/// The document.
#[must_use]
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, access, summary) in ROUTES {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let security = match access {
            Access::Public => json!([]),
            Access::Operator => json!([{"operator": []}]),
            Access::Tenant => json!([{"operator": []}, {"tenantKey": []}]),
        };
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        if let Some(entry) = entry.as_object_mut() {
            entry.insert(
                (*method).to_owned(),
                json!({
                    "summary": summary,
                    "parameters": parameters,
                    "security": security,
                    "responses": {
                        "2XX": {"description": "Done; JSON (204: no body)."},
                        "4XX": {"description": "{\"error\": {\"code\", \"message\", \"detail\"?}}: what was wrong. Another tenant's resources answer 404."},
                    },
                }),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenants, keys, plugins and routes of a Switchboard host.",
        },
        "components": {"securitySchemes": {
            "operator": {"type": "http", "scheme": "bearer", "description": "The operator token (admin.operator_token)."},
            "tenantKey": {"type": "http", "scheme": "bearer", "description": "A tenant API key, sbk_…"},
        }},
        "paths": paths,
    })
}
