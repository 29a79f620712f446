//! The bundle: kube-sim (unless an existing cluster is named) plus the server,
//! in-process, on loopback. The only module that knows kube-sim.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kube_sim::{KubeSim, SimConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ServerConfig, ServerProfile};
use crate::defects::Defect;
use crate::state::{AppState, normalize_prefix};
use crate::{app, idle, presence, tls};

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Which column of the contract to follow.
    pub profile: ServerProfile,
    /// Defects in force from the start.
    pub defects: Vec<Defect>,
    /// Path prefix, e.g. `Some("/focus-server")`.
    pub prefix: Option<String>,
    /// Serve HTTPS with a generated self-signed certificate.
    pub tls: bool,
    /// The simulated cluster's shape and timing (ignored with `kubeconfig`).
    pub sim: SimConfig,
    /// Use this existing cluster instead of starting kube-sim.
    pub kubeconfig: Option<PathBuf>,
    /// Where to write the kubeconfig of the cluster in use (default: a temp dir).
    pub kubeconfig_out: Option<PathBuf>,
    /// Namespace of the investigations.
    pub namespace: String,
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// The server's tunables (slots, idle time, PRR, ...). `prefix` and
    /// `sim_conventions` are set from the fields above (with `kubeconfig`, the
    /// conventions are on only if the cluster's version names kube-sim).
    pub server: ServerConfig,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            profile: ServerProfile::AsRequired,
            defects: Vec::new(),
            prefix: None,
            tls: false,
            sim: SimConfig::default(),
            kubeconfig: None,
            kubeconfig_out: None,
            namespace: "panda".to_owned(),
            port: 0,
            server: ServerConfig::default(),
        }
    }
}

/// Stops the server and the background tasks when the sandbox is dropped without
/// [`Sandbox::shutdown`] (e.g. a panicking test).
struct StopOnDrop(watch::Sender<bool>);

impl StopOnDrop {
    fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running sandbox: the Focus Server API and (usually) a simulated cluster.
pub struct Sandbox {
    api_url: String,
    addr: SocketAddr,
    kubeconfig_path: PathBuf,
    cert_pem: Option<String>,
    state: AppState,
    sim: Option<KubeSim>,
    shutdown: StopOnDrop,
    server: JoinHandle<()>,
    idle: JoinHandle<()>,
    recorder: JoinHandle<()>,
    recorder_stop: StopOnDrop,
    _tempdir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("api_url", &self.api_url)
            .field("kubeconfig_path", &self.kubeconfig_path)
            .field("simulated", &self.sim.is_some())
            .finish_non_exhaustive()
    }
}

/// The `User-Agent` of the sandbox's Kubernetes requests (the suite's differ).
pub const USER_AGENT: &str = concat!("focus-sandbox/", env!("CARGO_PKG_VERSION"));

async fn client_from_kubeconfig(text: &str) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::from_yaml(text).context("parsing the kubeconfig")?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static(USER_AGENT),
    ));
    Client::try_from(config).context("building the Kubernetes client")
}

async fn is_kube_sim(client: &Client) -> bool {
    client
        .apiserver_version()
        .await
        .is_ok_and(|v| v.git_version.contains("kube-sim"))
}

async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

impl Sandbox {
    /// Starts kube-sim (unless `opts.kubeconfig`), creates the namespace if absent,
    /// and serves the API on 127.0.0.1.
    pub async fn start(opts: SandboxOptions) -> anyhow::Result<Sandbox> {
        tls::install_ring();
        let mut server_cfg = opts.server.clone();
        if let Some(p) = &opts.prefix {
            server_cfg.prefix = p.clone();
        }
        let (sim, kubeconfig_text) = match &opts.kubeconfig {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                server_cfg.sim_conventions = false;
                (None, text)
            }
            None => {
                let sim = KubeSim::start(opts.sim.clone())
                    .await
                    .context("starting kube-sim")?;
                let text = sim.kubeconfig();
                server_cfg.sim_conventions = true;
                (Some(sim), text)
            }
        };
        server_cfg.validate().context("server settings")?;

        let (kubeconfig_path, tempdir) = match &opts.kubeconfig_out {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::tempdir().context("creating a temp dir")?;
                (dir.path().join("kubeconfig"), Some(dir))
            }
        };
        std::fs::write(&kubeconfig_path, &kubeconfig_text)
            .with_context(|| format!("writing {}", kubeconfig_path.display()))?;

        let client = client_from_kubeconfig(&kubeconfig_text).await?;
        if sim.is_none() {
            // An existing cluster may still be a kube-sim started elsewhere: it says so
            // in its version. A real cluster never gets the kube-sim conventions.
            server_cfg.sim_conventions = is_kube_sim(&client).await;
        }
        ensure_namespace(&client, &opts.namespace).await?;

        let state = AppState::new(
            client,
            opts.namespace.clone(),
            opts.profile,
            server_cfg,
            opts.defects.iter().copied(),
        );
        state.seed_seq(presence::recorded_seq(&state).await);
        if state.config().sim_conventions {
            presence::ensure_focus_server(&state)
                .await
                .context("creating the Focus Server stand-in Deployment")?;
        }
        let router = app(state.clone());
        let (shutdown, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // Err: the sender is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        };
        // The recorder stops on its own only after shutdown has waited for the last seq.
        let (recorder_stop, recorder_rx) = watch::channel(false);
        let recorder = tokio::spawn(presence::record_seqs(
            state.clone(),
            state.subscribe_seq(),
            stopped(recorder_rx),
        ));

        let std_listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))
            .with_context(|| format!("binding 127.0.0.1:{}", opts.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (scheme, cert_pem, server) = if opts.tls {
            let cert = tls::self_signed().context("generating the TLS certificate")?;
            let handle = axum_server::Handle::new();
            let srv =
                axum_server::from_tcp_rustls(std_listener, cert.config)?.handle(handle.clone());
            let rx2 = rx.clone();
            let task = tokio::spawn(async move {
                let stop = stopped(rx2);
                tokio::spawn(async move {
                    stop.await;
                    handle.graceful_shutdown(Some(Duration::from_secs(2)));
                });
                if let Err(e) = srv.serve(router.into_make_service()).await {
                    tracing::error!(error = %e, "HTTPS server failed");
                }
            });
            ("https", Some(cert.cert_pem), task)
        } else {
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            let stop = stopped(rx.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            });
            ("http", None, task)
        };
        let idle = tokio::spawn(idle::run(state.clone(), stopped(rx)));

        let prefix = normalize_prefix(&state.config().prefix);
        Ok(Sandbox {
            api_url: format!("{scheme}://{addr}{prefix}"),
            addr,
            kubeconfig_path,
            cert_pem,
            state,
            sim,
            shutdown: StopOnDrop(shutdown),
            server,
            idle,
            recorder,
            recorder_stop: StopOnDrop(recorder_stop),
            _tempdir: tempdir,
        })
    }

    /// Base URL including the prefix, without a trailing slash.
    pub fn api_url(&self) -> String {
        self.api_url.clone()
    }

    /// The socket the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig file for the cluster in use.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The self-signed certificate (PEM) when serving HTTPS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The server's state (defects, fiber, counters) for in-process control.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A Kubernetes client for the cluster in use.
    pub fn client(&self) -> Client {
        self.state.client().clone()
    }

    /// The simulated cluster, when the sandbox started one.
    pub fn sim(&self) -> Option<&KubeSim> {
        self.sim.as_ref()
    }

    /// Stops the server, the idle reaper and kube-sim.
    pub async fn shutdown(self) {
        self.shutdown.stop();
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        let mut idle = self.idle;
        if tokio::time::timeout(Duration::from_secs(2), &mut idle)
            .await
            .is_err()
        {
            idle.abort();
        }
        // Let the last seq reach the namespace, then stop recording.
        let mut recorder = self.recorder;
        let pending = *self.state.subscribe_seq().borrow();
        if pending > 0 {
            let recorded = async {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                while presence::recorded_seq(&self.state).await < pending {
                    tick.tick().await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), recorded).await;
        }
        self.recorder_stop.stop();
        if tokio::time::timeout(Duration::from_secs(2), &mut recorder)
            .await
            .is_err()
        {
            recorder.abort();
        }
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}
