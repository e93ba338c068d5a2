//! The simulator and the host wired together on loopback, as the end-to-end tests, the
//! demo and the host load benchmark use them.
//!
//! [`StackBuilder`] starts the simulator (HTTP + HTTPS, its CA written to a temporary
//! directory), then the host configured against it (connection string, callback JWT
//! audience and OpenID configuration, the CA), with the tenants asked for, and
//! subscribes the host to the simulator's Event Grid. [`Stack`] has what a test needs:
//! the simulator's API ([`SimClient`]), the hosts' addresses and executors (their
//! journals), and a graceful stop; several replicas on one store
//! ([`StackBuilder::start_replicas`]) get callbacks spread over them. [`HostProcess`]
//! runs a host as a process of its own (the `e2e-host` binary) for tests that
//! `kill -9` it; [`StackBuilder::spawn_replicas`] starts several, a [`ProcessStack`],
//! as a deployment runs them (the replicas benchmark).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::executor::Executor;
use switchboard::server::App;
use switchboard_sim::script::{Caller, Scenario};
use switchboard_sim::{Listen, SimConfig};

/// Where `make guests` puts the components (`SWITCHBOARD_GUESTS_DIR` overrides).
#[must_use]
pub fn guests_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_GUESTS_DIR").map_or_else(
        || workspace_root().join("target/wasm32-wasip2/guest"),
        PathBuf::from,
    )
}

/// A guest component by crate name (`switchboard_ivr`, `hostile_guest`).
pub fn guest(name: &str) -> anyhow::Result<PathBuf> {
    let path = guests_dir().join(format!("{name}.wasm"));
    anyhow::ensure!(
        path.exists(),
        "guest component {} is missing: build the guests first with `make guests`",
        path.display()
    );
    Ok(path)
}

#[must_use]
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `ivr.md` caller scripts (`sim/scenarios/ivr/*.toml`), by file name order.
pub fn ivr_scripts() -> anyhow::Result<Vec<Caller>> {
    let dir = workspace_root().join("sim/scenarios/ivr");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut callers = Vec::new();
    for file in files {
        callers.extend(Scenario::load(&file)?.callers);
    }
    Ok(callers)
}

/// One `ivr.md` caller script by name.
pub fn ivr_script(name: &str) -> anyhow::Result<Caller> {
    ivr_scripts()?
        .into_iter()
        .find(|c| c.name == name)
        .with_context(|| format!("no ivr.md caller script named `{name}`"))
}

/// A tenant of the host.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    pub id: String,
    pub plugin: PathBuf,
    pub numbers: Vec<String>,
    pub config: BTreeMap<String, String>,
    /// The tenant's limits that are not the defaults (`deadline_ms`, `reuse`…).
    pub limits: toml::Table,
}

/// The languages plugins are written in (`plugins/<lang>/`), as `switchboard plugin
/// new --lang` names them.
pub use switchboard::author::Lang;

/// The reference IVR component in `lang`, as `make guests` builds it.
pub fn ivr_plugin(lang: Lang) -> anyhow::Result<PathBuf> {
    guest(match lang {
        Lang::Rust => "switchboard_ivr",
        Lang::Python => "ivr_py",
        Lang::Js => "ivr_js",
    })
}

impl TenantSpec {
    /// The reference IVR tenant `acme`: +18005550100, agent +15550001111.
    pub fn ivr() -> anyhow::Result<Self> {
        Self::ivr_in(Lang::Rust)
    }

    /// The reference IVR tenant with the plugin written in `lang`.
    pub fn ivr_in(lang: Lang) -> anyhow::Result<Self> {
        Ok(Self {
            id: "acme".into(),
            plugin: ivr_plugin(lang)?,
            numbers: vec!["+18005550100".into()],
            config: BTreeMap::from([("agent_phone".into(), "+15550001111".into())]),
            // Python and JS instances take milliseconds, more on a loaded machine in a
            // test build: the default 20 ms suits Rust.
            limits: match lang {
                Lang::Rust => toml::Table::new(),
                Lang::Python | Lang::Js => {
                    toml::Table::from_iter([("deadline_ms".to_owned(), 250.into())])
                }
            },
        })
    }

    /// A tenant running the hostile guest in `mode` (`loop`, `memory`, `panic`…).
    pub fn hostile(id: &str, number: &str, mode: &str) -> anyhow::Result<Self> {
        Ok(Self {
            id: id.into(),
            plugin: guest("hostile_guest")?,
            numbers: vec![number.into()],
            config: BTreeMap::from([("mode".into(), mode.into())]),
            limits: toml::Table::new(),
        })
    }
}

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    pub sim: SimConfig,
    pub tenants: Vec<TenantSpec>,
    /// Extra host settings, as TOML tables merged over the generated ones
    /// (e.g. `[server] reorder_hold_ms = 300`).
    pub host_toml: String,
    /// Where the host's cache and the CA go; a temporary directory if unset.
    pub work_dir: Option<PathBuf>,
}

impl StackBuilder {
    /// The IVR tenant, simulated time ×50.
    pub fn ivr() -> anyhow::Result<Self> {
        Self::ivr_in(Lang::Rust)
    }

    /// The simulator and one host with the IVR tenant's plugin in `lang`.
    pub fn ivr_in(lang: Lang) -> anyhow::Result<Self> {
        Ok(Self {
            sim: SimConfig {
                time_scale: 50.0,
                ..SimConfig::default()
            },
            tenants: vec![TenantSpec::ivr_in(lang)?],
            host_toml: String::new(),
            work_dir: None,
        })
    }

    #[must_use]
    pub fn tenant(mut self, tenant: TenantSpec) -> Self {
        self.tenants.push(tenant);
        self
    }

    /// Every tenant's plugin deadline. For a debug build under load: several hosts,
    /// PostgreSQL and the simulator on two cores can keep a plugin's thread from
    /// running past the default 20 ms, and the fallback is not what such a test is
    /// about.
    #[must_use]
    pub fn deadline_ms(mut self, ms: u32) -> Self {
        for tenant in &mut self.tenants {
            tenant
                .limits
                .insert("deadline_ms".into(), i64::from(ms).into());
        }
        self
    }

    #[must_use]
    pub fn host_toml(mut self, toml: &str) -> Self {
        self.host_toml.push_str(toml);
        self.host_toml.push('\n');
        self
    }

    /// The host's settings for a running simulator.
    pub fn settings(&self, sim: &switchboard_sim::Running, dir: &Path) -> anyhow::Result<Settings> {
        Ok(Settings::from_toml(&self.settings_toml(sim, dir)?)?)
    }

    /// The host's settings file for a running simulator (the simulator's CA is written
    /// to `dir`; the cache and the SQLite store go there too unless `host_toml` says
    /// otherwise).
    pub fn settings_toml(
        &self,
        sim: &switchboard_sim::Running,
        dir: &Path,
    ) -> anyhow::Result<String> {
        let ca = dir.join("sim-ca.pem");
        std::fs::write(&ca, &sim.ca_pem).context("writing the simulator's CA")?;
        let mut doc: toml::Table = toml::from_str(&format!(
            r#"
            [server]
            listen = "127.0.0.1:0"
            [acs]
            connection_string = "{connection}"
            audience = "{audience}"
            openid_configuration = "{base}/calling/.well-known/acsopenidconfiguration"
            ca_file = "{ca}"
            [runtime]
            cache_dir = "{cache}"
            [store]
            url = "sqlite://{db}"
            "#,
            connection = sim.connection_string(),
            audience = sim.sim.config.resource_id,
            base = sim.sim.base_url(),
            ca = ca.display(),
            cache = dir.join("cache").display(),
            db = dir.join("switchboard.db").display(),
        ))?;
        let extra: toml::Table = toml::from_str(&self.host_toml).context("host_toml")?;
        for (key, value) in extra {
            match (doc.get_mut(&key), value) {
                (Some(toml::Value::Table(table)), toml::Value::Table(more)) => table.extend(more),
                (_, value) => {
                    doc.insert(key, value);
                }
            }
        }
        let tenants = self
            .tenants
            .iter()
            .map(|t| {
                let mut table = toml::Table::new();
                table.insert("id".into(), t.id.clone().into());
                table.insert("plugin".into(), t.plugin.display().to_string().into());
                table.insert(
                    "numbers".into(),
                    toml::Value::Array(t.numbers.iter().map(|n| n.clone().into()).collect()),
                );
                table.insert(
                    "config".into(),
                    toml::Value::Table(
                        t.config
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone().into()))
                            .collect(),
                    ),
                );
                if !t.limits.is_empty() {
                    table.insert("limits".into(), toml::Value::Table(t.limits.clone()));
                }
                toml::Value::Table(table)
            })
            .collect();
        doc.insert("tenant".into(), toml::Value::Array(tenants));
        Ok(doc.to_string())
    }

    /// Starts the simulator, then the host, and subscribes the host to Event Grid.
    pub async fn start(self) -> anyhow::Result<Stack> {
        self.start_replicas(1).await
    }

    /// Starts the simulator, then `replicas` hosts sharing the store (replica names
    /// `r1`, `r2`…; give several a PostgreSQL store in `host_toml`), subscribed to
    /// Event Grid once; with more than one, the simulator spreads every delivery
    /// (Event Grid events and callbacks) over all of them in turn, as a load balancer
    /// in front of them would.
    pub async fn start_replicas(self, replicas: usize) -> anyhow::Result<Stack> {
        let (simulator, dir, temp) = self.start_sim().await?;
        let mut hosts = Vec::new();
        for index in 1..=replicas.max(1) {
            let mut settings = self.settings(&simulator.sim, &dir)?;
            if replicas > 1 {
                settings.server.replica = Some(format!("r{index}"));
            }
            let app = App::build(settings)
                .await
                .with_context(|| format!("starting host {index}"))?;
            let addr = app.local_addr()?;
            let executor = app.executor().clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(app.run_until_stopped(async move {
                let _ = stopped.await;
            }));
            hosts.push(Host {
                addr,
                executor,
                stop: Some(stop),
                serving: Some(serving),
            });
        }
        simulator.subscribe(hosts[0].addr).await?;
        let stack = Stack {
            host: hosts[0].addr,
            executor: hosts[0].executor.clone(),
            simulator,
            hosts,
            _dir: temp,
        };
        if replicas > 1 {
            stack.spread_deliveries(true).await?;
        }
        Ok(stack)
    }

    /// Starts the simulator, then `replicas` host processes (`exe`, the `e2e-host`
    /// binary) sharing the store (replica names `r1`, `r2`…; give several a PostgreSQL
    /// store in `host_toml`), the first subscribed to Event Grid; with more than one,
    /// the simulator spreads every delivery over all of them in turn.
    pub async fn spawn_replicas(self, replicas: usize, exe: &Path) -> anyhow::Result<ProcessStack> {
        let (simulator, dir, temp) = self.start_sim().await?;
        let base: toml::Table = toml::from_str(&self.settings_toml(&simulator.sim, &dir)?)?;
        let mut hosts = Vec::new();
        for index in 1..=replicas.max(1) {
            let mut doc = base.clone();
            if replicas > 1 {
                doc.entry("server")
                    .or_insert_with(|| toml::Table::new().into())
                    .as_table_mut()
                    .context("[server] is not a table")?
                    .insert("replica".into(), format!("r{index}").into());
            }
            let settings = dir.join(format!("host-{index}.toml"));
            std::fs::write(&settings, toml::to_string(&doc)?)
                .with_context(|| format!("writing {}", settings.display()))?;
            hosts.push(
                HostProcess::spawn(exe, &settings)
                    .await
                    .with_context(|| format!("starting host {index}"))?,
            );
        }
        simulator.subscribe(hosts[0].addr).await?;
        if replicas > 1 {
            let addrs: Vec<SocketAddr> = hosts.iter().map(|h| h.addr).collect();
            simulator.spread_over(&addrs, true).await?;
        }
        Ok(ProcessStack {
            hosts,
            simulator,
            _dir: temp,
        })
    }

    /// Starts the simulator alone; where the hosts' files go.
    pub async fn start_sim(
        &self,
    ) -> anyhow::Result<(SimClient, PathBuf, Option<tempfile::TempDir>)> {
        let sim = switchboard_sim::start(self.sim.clone(), Listen::default()).await?;
        let (dir, temp) = match &self.work_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        Ok((
            SimClient {
                sim,
                http: reqwest::Client::new(),
            },
            dir,
            temp,
        ))
    }
}

/// A host of the stack, serving in this process.
#[derive(Debug)]
pub struct Host {
    pub addr: SocketAddr,
    pub executor: Executor,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Host {
    /// Stops the host gracefully (accepted events finish) and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.serving.take() {
            Some(serving) => serving.await?,
            None => Ok(()),
        }
    }
}

/// The simulator and its hosts, running. The simulator's API is the stack's own
/// ([`SimClient`], by `Deref`).
#[derive(Debug)]
pub struct Stack {
    /// The first host.
    pub host: SocketAddr,
    /// The first host's executor (its journal).
    pub executor: Executor,
    pub hosts: Vec<Host>,
    simulator: SimClient,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Stack {
    type Target = SimClient;
    fn deref(&self) -> &SimClient {
        &self.simulator
    }
}

/// The sum of a metric's samples (every label set) in Prometheus text.
#[must_use]
pub fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Stack {
    /// Has the simulator spread its deliveries over the hosts in turn, as a load
    /// balancer would: Event Grid events, and callbacks too unless `callbacks` is
    /// false (each call's callbacks then reach the host that answered it).
    pub async fn spread_deliveries(&self, callbacks: bool) -> anyhow::Result<()> {
        let hosts: Vec<SocketAddr> = self.hosts.iter().map(|h| h.addr).collect();
        self.simulator.spread_over(&hosts, callbacks).await
    }

    /// The first host's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        host_metrics(&self.http, self.host).await
    }

    /// Stops the first host gracefully (accepted events finish) and waits for it; the
    /// simulator keeps running.
    pub async fn stop_host(&mut self) -> anyhow::Result<()> {
        self.hosts[0].stop().await
    }
}

/// A host running as a process of its own (the `e2e-host` binary), for tests that
/// kill it.
#[derive(Debug)]
pub struct HostProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    /// For `/metrics`: one client, its connection kept (a benchmark polls often).
    http: reqwest::Client,
}

impl HostProcess {
    /// Starts `exe SETTINGS` and waits until it listens (it prints its address).
    pub async fn spawn(exe: &Path, settings: &Path) -> anyhow::Result<Self> {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(exe)
            .arg(settings)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("the host's stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("the host did not start in 60 s")??
            .context("the host exited before listening")?;
        let addr = line
            .strip_prefix("listening ")
            .with_context(|| format!("unexpected first line from the host: {line}"))?
            .parse()?;
        Ok(Self {
            addr,
            child,
            http: reqwest::Client::new(),
        })
    }

    /// `kill -9`: the process ends at once, whatever it was doing.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// `SIGTERM`, and waits for the host to exit (a graceful stop: accepted events
    /// finish, the replica's lease is released).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the host has exited already")?;
        let pid =
            rustix::process::Pid::from_raw(i32::try_from(pid)?).context("the host's process id")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the host did not stop within 30 s of SIGTERM")??;
        anyhow::ensure!(status.success(), "the host exited with {status}");
        Ok(())
    }

    /// The CPU time the process has used so far (user + system), in clock ticks
    /// (`USER_HZ`, 100 per second on Linux); `None` once it has exited.
    #[must_use]
    pub fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()?)).ok()?;
        stat_cpu_ticks(&stat)
    }

    /// The host's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        host_metrics(&self.http, self.addr).await
    }
}

/// A host's `/metrics` text.
async fn host_metrics(http: &reqwest::Client, host: SocketAddr) -> anyhow::Result<String> {
    Ok(http
        .get(format!("http://{host}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// User + system CPU time of a process in ticks, from its `/proc/<pid>/stat` text.
#[must_use]
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // After the command name (which may hold spaces and parentheses): the state is the
    // 3rd field of the line, utime the 14th, stime the 15th.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The simulator and host processes (the `e2e-host` binary) on one store: the
/// deployment a load balancer fronts. The simulator's API is the stack's own
/// ([`SimClient`], by `Deref`).
#[derive(Debug)]
pub struct ProcessStack {
    pub hosts: Vec<HostProcess>,
    simulator: SimClient,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for ProcessStack {
    type Target = SimClient;
    fn deref(&self) -> &SimClient {
        &self.simulator
    }
}

impl ProcessStack {
    /// Every host's `/metrics` text, in the hosts' order.
    pub async fn metrics(&self) -> anyhow::Result<Vec<String>> {
        let mut all = Vec::with_capacity(self.hosts.len());
        for host in &self.hosts {
            all.push(host.metrics().await?);
        }
        Ok(all)
    }

    /// A metric summed over its labels and over the hosts.
    pub async fn metric_sum(&self, name: &str) -> anyhow::Result<f64> {
        Ok(self
            .metrics()
            .await?
            .iter()
            .map(|m| metric_sum(m, name))
            .sum())
    }

    /// Stops every host gracefully, then the simulator.
    pub async fn stop(self) -> anyhow::Result<()> {
        for host in self.hosts {
            host.stop().await?;
        }
        Ok(())
    }
}

/// The simulator, and its own API.
#[derive(Debug)]
pub struct SimClient {
    pub sim: switchboard_sim::Running,
    pub http: reqwest::Client,
}

impl SimClient {
    /// Has the simulator spread its deliveries over `hosts` in turn, as a load
    /// balancer would: Event Grid events, and callbacks too unless `callbacks` is
    /// false (each call's callbacks then reach the host that answered it).
    pub async fn spread_over(&self, hosts: &[SocketAddr], callbacks: bool) -> anyhow::Result<()> {
        let origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        self.sim_put(
            "callback-spread",
            &json!({ "origins": origins, "callbacks": callbacks }),
        )
        .await
        .map(drop)
    }

    /// Subscribes a host to Event Grid events.
    pub async fn subscribe(&self, host: SocketAddr) -> anyhow::Result<()> {
        self.sim_post(
            "subscriptions",
            &json!({"endpoint": format!("http://{host}/eventgrid")}),
        )
        .await
        .context("subscribing the host to Event Grid")
        .map(drop)
    }

    /// `PUT /sim/{path}` with a JSON body.
    pub async fn sim_put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .put(format!("{}/sim/{path}", self.sim.http_url()))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "PUT /sim/{path}: {status} {body}");
        Ok(body)
    }

    /// The simulator's own API: `POST /sim/{path}` with a JSON body; the answer's JSON.
    pub async fn sim_post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/sim/{path}", self.sim.http_url()))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST /sim/{path}: {status} {body}");
        Ok(body)
    }

    /// `GET /sim/{path}`.
    pub async fn sim_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/sim/{path}", self.sim.http_url()))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET /sim/{path}: {status} {body}");
        Ok(body)
    }

    /// Rings the host with a scripted caller; the call's `serverCallId`.
    pub async fn place(&self, caller: &Caller) -> anyhow::Result<String> {
        self.placed(json!({ "caller": caller })).await
    }

    /// Rings `to` from `from` with no script (the call stays until someone ends it);
    /// the call's `serverCallId`.
    pub async fn ring(&self, from: &str, to: &str) -> anyhow::Result<String> {
        self.placed(json!({ "from": from, "to": to })).await
    }

    async fn placed(&self, call: Value) -> anyhow::Result<String> {
        let placed = self.sim_post("calls", &call).await?;
        placed["serverCallId"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no serverCallId in {placed}"))
    }

    /// A fault rule (`POST /sim/faults`).
    pub async fn fault(&self, rule: Value) -> anyhow::Result<()> {
        self.sim_post("faults", &rule).await.map(drop)
    }

    /// The simulator's report once at least `calls` calls ended (60 s at most).
    pub async fn report_when_ended(&self, calls: usize) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let report = self.sim_get("report").await?;
            let ended = report["calls"]
                .as_array()
                .map_or(0, |c| c.iter().filter(|c| c["ended"] == true).count());
            if ended >= calls {
                return Ok(report);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{ended} of {calls} calls ended in 60 s: {report:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the simulator shows the call over (ended, rejected or redirected;
    /// 20 s at most); its timeline.
    pub async fn ended(&self, server_call_id: &str) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let timeline = self.timeline(server_call_id).await?;
            if timeline.iter().any(|e| {
                e["kind"] == "state"
                    && ["Ended", "Rejected", "Redirected"]
                        .contains(&e["name"].as_str().unwrap_or_default())
            }) {
                return Ok(timeline);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "call {server_call_id} did not end in 20 s: {timeline:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A call's timeline as the simulator recorded it.
    pub async fn timeline(&self, server_call_id: &str) -> anyhow::Result<Vec<Value>> {
        let call = self.sim_get(&format!("calls/{server_call_id}")).await?;
        call["timeline"]
            .as_array()
            .cloned()
            .with_context(|| format!("no timeline in {call}"))
    }

    /// The names of the REST operations the host made on a call, in order, with
    /// their status (`TransferToParticipant 202`).
    pub async fn operations(&self, server_call_id: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .timeline(server_call_id)
            .await?
            .iter()
            .filter(|e| e["kind"] == "request")
            .map(|e| {
                format!(
                    "{} {}",
                    e["name"].as_str().unwrap_or("?"),
                    e["detail"]["status"]
                )
            })
            .collect())
    }
}
