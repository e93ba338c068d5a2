//! Typed settings: a TOML file with an environment overlay
//! (`SWITCHBOARD_ACS__CONNECTION_STRING=…` sets `acs.connection_string`).
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:7070"
//! public_url = "https://switchboard.example.com"   # how the service reaches us
//!
//! [acs]
//! connection_string = "endpoint=https://….communication.azure.com/;accesskey=…"
//! audience = "<the resource's immutable id>"        # of callback JWTs
//!
//! [[tenant]]
//! id = "acme"
//! plugin = "plugins/acme-ivr.wasm"
//! numbers = ["+18005550100"]
//! config = { agent_phone = "+15550001111" }
//! allow_phone_prefixes = ["+1555"]
//! limits = { deadline_ms = 50 }
//! ```
//!
//! Until tenants live in the store, they come from here. Loading checks what can be
//! checked without the network: numbers are E.164, each routed to one tenant, ids are
//! unique, limits are within the runtime's ceilings.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::runtime::Limits;

/// The service's OpenID configuration (callback token keys).
pub const ACS_OPENID_CONFIGURATION: &str =
    "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration";

/// A limit above the operator's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} = {value} is above the maximum {max}")]
pub struct AboveMaximum {
    pub what: &'static str,
    pub value: u64,
    pub max: u64,
}

impl RuntimeSettings {
    /// Whether tenant limits stay within the operator's maxima.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), AboveMaximum> {
        let check = |what, value: u64, max: u64| {
            if value > max {
                Err(AboveMaximum { what, value, max })
            } else {
                Ok(())
            }
        };
        check(
            "limits.deadline_ms",
            limits.deadline_ms.into(),
            self.max_deadline_ms.into(),
        )?;
        check(
            "limits.memory_bytes",
            limits.memory_bytes as u64,
            self.max_memory_bytes as u64,
        )
    }
}

/// A value that must not reach logs: `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the store is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite://FILE` (one host) or `postgres://…` (several replicas).
    pub url: String,
    /// Keep the invocation log (every event handled, per call) for
    /// `switchboard calls list|show`.
    pub call_log: bool,
    /// Keep calls in the store as they go (their state, accepted events, the actions
    /// of each decision with their repeatability ids), so that a host killed mid-call
    /// and restarted, or another replica, continues them without doing anything twice.
    /// Off: calls live in memory only (a little faster; a restart drops them).
    pub durable_calls: bool,
    /// Connections to the store at most (default: 4 on SQLite, 16 on PostgreSQL).
    /// Several replicas on one PostgreSQL: divide one host's number between them.
    pub max_connections: Option<u32>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://.switchboard/switchboard.db".into(),
            call_log: true,
            durable_calls: true,
            max_connections: None,
        }
    }
}

/// The admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// The operator's bearer token (creates tenants, sets limits). Unset: no operator
    /// access (tenant keys still work). Prefer the environment:
    /// `SWITCHBOARD_ADMIN__OPERATOR_TOKEN`.
    pub operator_token: Option<Secret>,
    /// Largest plugin upload accepted.
    pub max_upload_bytes: usize,
    /// Failed authentications allowed per client address and minute (then 429).
    pub failed_auth_per_minute: u32,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            operator_token: None,
            max_upload_bytes: 64 << 20,
            failed_auth_per_minute: 10,
        }
    }
}

/// Everything `switchboard serve` is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: Server,
    pub acs: Acs,
    #[serde(default)]
    pub runtime: RuntimeSettings,
    /// Limits of tenants that set none.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: SocketAddr,
    /// The base URL the service posts callbacks to (this host, as the service sees
    /// it); unset: `http://` and the listening address.
    pub public_url: Option<String>,
    /// How long in-flight events may take to finish at shutdown.
    pub shutdown_grace_seconds: u64,
    /// How long a callback that arrived before the event it follows is held back
    /// (the awaited one may be lost).
    pub reorder_hold_ms: u64,
    /// How long a call waits for the completion event of a play or recognize the
    /// service accepted (with no other event of the call meanwhile); then the policy
    /// hears `action-failed` with code `outcome-unknown` and decides what next. Longer
    /// than the longest prompt a tenant plays.
    pub completion_timeout_ms: u64,
    /// This replica's name, unique among the replicas sharing a store; its calls are
    /// recorded as its own. A replica restarted under the same name takes its calls
    /// back at once; others take them when its lease runs out. Unset: `local` on
    /// SQLite (one host), a random name on PostgreSQL.
    pub replica: Option<String>,
    /// How long a replica's claim on its calls lasts without renewal (renewed every
    /// third of it): how soon another replica continues the calls of one that died.
    pub call_lease_ms: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 7070).into(),
            public_url: None,
            shutdown_grace_seconds: 10,
            reorder_hold_ms: 1000,
            completion_timeout_ms: 300_000,
            replica: None,
            call_lease_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acs {
    pub connection_string: String,
    /// The resource's immutable id: the audience of callback tokens.
    pub audience: String,
    #[serde(default = "default_openid")]
    pub openid_configuration: String,
    /// An extra root certificate to trust (the simulator's CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long one attempt of a request may take before it is given up and retried
    /// (repeatable operations carry the same repeatability id, so the service runs
    /// them once).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_openid() -> String {
    ACS_OPENID_CONFIGURATION.into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Precompiled plugins are kept here.
    pub cache_dir: PathBuf,
    pub fuel_metering: bool,
    /// The largest memory any tenant may be given.
    pub max_memory_bytes: usize,
    /// The longest deadline any tenant may be given.
    pub max_deadline_ms: u32,
    /// Plugin instances alive at once: events being handled, plus one per live call
    /// of tenants with `reuse = "per-call"`. The pooling allocator reserves slots for
    /// this many up front (address space, not memory).
    pub max_concurrent_instances: std::num::NonZeroU32,
    /// Components compiled into `cache_dir` when the host starts, in the background
    /// (read back, not compiled, on later starts): uploads sharing their code then
    /// compile only the rest. Every Python plugin carries the same CPython and every
    /// JavaScript plugin the same engine, so the SDKs' reference plugins make every
    /// later Python or JavaScript upload, the first one included, cost what a second
    /// one does (BENCHMARKS.md, polyglot).
    pub warm: Vec<PathBuf>,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            cache_dir: PathBuf::from(".switchboard/cache"),
            fuel_metering: false,
            max_memory_bytes: 256 << 20,
            max_deadline_ms: 1_000,
            max_concurrent_instances: std::num::NonZeroU32::new(
                crate::runtime::RuntimeConfig::default().max_concurrent_instances,
            )
            .expect("the default is not zero"),
            warm: Vec::new(),
        }
    }
}

/// A tenant, its plugin and its numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: String,
    pub plugin: PathBuf,
    pub numbers: Vec<String>,
    /// Handed to the plugin in every context.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Number prefixes the plugin may transfer to, invite or call; empty: any.
    #[serde(default)]
    pub allow_phone_prefixes: Vec<String>,
    #[serde(default)]
    pub outbound_calls: bool,
    /// Overrides of the default limits.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// What is wrong with the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("settings: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("tenant `{tenant}`: number {number:?} is not E.164 (`+` and 7 to 15 digits)")]
    BadNumber { tenant: String, number: String },
    #[error("number {number} is routed to both `{first}` and `{second}`")]
    NumberTwice {
        number: String,
        first: String,
        second: String,
    },
    #[error("tenant id `{0}` is used twice")]
    TenantTwice(String),
    #[error("tenant `{tenant}`: {what} {value} is above the operator maximum {max}")]
    AboveMaximum {
        tenant: String,
        what: &'static str,
        value: u64,
        max: u64,
    },
    #[error("server.public_url {0:?} must be an absolute http(s) URL without a trailing slash")]
    PublicUrl(String),
}

impl Settings {
    /// Reads `path` (if given) under the `SWITCHBOARD_` environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::from_figment(figment.merge(Env::prefixed("SWITCHBOARD_").split("__")))
    }

    /// Reads settings from TOML text (no environment overlay).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.server.public_url
            && (!(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/'))
        {
            return Err(ConfigError::PublicUrl(url.clone()));
        }
        let mut ids = std::collections::HashSet::new();
        let mut routes: HashMap<&str, &str> = HashMap::new();
        for tenant in &self.tenants {
            if !ids.insert(tenant.id.as_str()) {
                return Err(ConfigError::TenantTwice(tenant.id.clone()));
            }
            for number in &tenant.numbers {
                if !is_e164(number) {
                    return Err(ConfigError::BadNumber {
                        tenant: tenant.id.clone(),
                        number: number.clone(),
                    });
                }
                if let Some(first) = routes.insert(number, &tenant.id) {
                    return Err(ConfigError::NumberTwice {
                        number: number.clone(),
                        first: first.into(),
                        second: tenant.id.clone(),
                    });
                }
            }
            self.runtime
                .check_limits(&self.limits_of(tenant))
                .map_err(|above| ConfigError::AboveMaximum {
                    tenant: tenant.id.clone(),
                    what: above.what,
                    value: above.value,
                    max: above.max,
                })?;
        }
        Ok(())
    }

    /// A tenant's limits: its own, or the defaults.
    #[must_use]
    pub fn limits_of(&self, tenant: &Tenant) -> Limits {
        tenant.limits.unwrap_or(self.limits)
    }
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        public_url = "http://127.0.0.1:7070"

        [acs]
        connection_string = "endpoint=https://127.0.0.1:8443/;accesskey=a2V5"
        audience = "6d4c0c6e-5b0f-4a8a-9d3e-0a1b2c3d4e5f"

        [[tenant]]
        id = "acme"
        plugin = "target/wasm32-wasip2/guest/switchboard_ivr.wasm"
        numbers = ["+18005550100"]
        config = { agent_phone = "+15550001111" }
        limits = { deadline_ms = 50 }
    "#;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(Figment::from(Toml::string(text)))
    }

    #[test]
    fn the_documented_example_loads() {
        let settings = load(EXAMPLE).expect("loads");
        let acme = &settings.tenants[0];
        assert_eq!(acme.config["agent_phone"], "+15550001111");
        assert_eq!(settings.limits_of(acme).deadline_ms, 50);
        assert_eq!(
            settings.limits_of(acme).memory_bytes,
            Limits::default().memory_bytes
        );
        assert_eq!(settings.acs.openid_configuration, ACS_OPENID_CONFIGURATION);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API
    fn the_environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("switchboard.toml", EXAMPLE)?;
            jail.set_env("SWITCHBOARD_ACS__AUDIENCE", "from-env");
            let settings =
                Settings::load(Some(Path::new("switchboard.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(settings.acs.audience, "from-env");
            Ok(())
        });
    }

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/switchboard.toml");
        let text = std::fs::read_to_string(&path).expect("examples/switchboard.toml");
        let settings = load(&text).expect("loads");
        assert_eq!(settings.tenants[0].numbers, ["+18005550100"]);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: String| load(&text).expect_err("must fail").to_string();
        assert!(err(EXAMPLE.replace("+18005550100", "18005550100")).contains("not E.164"));
        let twice = format!(
            "{EXAMPLE}\n[[tenant]]\nid = \"other\"\nplugin = \"x.wasm\"\nnumbers = [\"+18005550100\"]\n"
        );
        assert!(err(twice).contains("routed to both `acme` and `other`"));
        assert!(
            err(EXAMPLE.replace("deadline_ms = 50", "deadline_ms = 5000"))
                .contains("above the operator maximum")
        );
        assert!(err(EXAMPLE.replace("numbers =", "phones =")).contains("phones"));
        assert!(err(EXAMPLE.replace("audience = ", "# audience = ")).contains("audience"));
        assert!(
            err(EXAMPLE.replace("http://127.0.0.1:7070", "http://127.0.0.1:7070/"))
                .contains("public_url")
        );
        let instances = |n: u32| format!("{EXAMPLE}\n[runtime]\nmax_concurrent_instances = {n}\n");
        assert!(err(instances(0)).contains("max_concurrent_instances"));
        assert_eq!(
            load(&instances(64))
                .expect("loads")
                .runtime
                .max_concurrent_instances
                .get(),
            64
        );
    }
}
