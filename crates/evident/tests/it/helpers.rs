//! `spawn_app` and friends: each test gets its own server and database.

use std::net::SocketAddr;
use std::sync::mpsc;

use evident_client::Client;
use evident_core::api::{NewToken, Role, Visibility};
use evident_server::{Application, Config};

/// A running server; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    /// A site admin's token.
    pub admin_token: String,
    /// With `demo`: the demo user's token.
    pub demo_token: Option<String>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const ADMIN_TOKEN: &str = "evd_00112233aabbccdd_0123456789abcdef0123456789abcdef";

/// Starts a server with a fresh database (and the demo data when `demo`).
pub fn spawn_app(demo: bool) -> TestApp {
    spawn_app_with(demo, |_| {})
}

/// Like [`spawn_app`], with a chance to adjust the configuration first.
pub fn spawn_app_with(demo: bool, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("evident.db").display()),
        max_body_bytes: 1024 * 1024,
        bootstrap_token: Some(ADMIN_TOKEN.to_string()),
        demo,
        git: evident_server::repos::GitConfig {
            mirrors_dir: dir.path().join("mirrors"),
            refresh_interval: None,
            ..Default::default()
        },
    };
    adjust(&mut config);
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The server gets its own runtime so blocking test code (assert_cmd) cannot starve it.
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Application::build(config).await.expect("server starts");
            tx.send((app.addr(), app.demo_token.clone())).unwrap();
            app.run_until(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let (addr, demo_token) = rx.recv().expect("server reported its address");
    TestApp {
        addr,
        admin_token: ADMIN_TOKEN.to_string(),
        demo_token,
        dir,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

impl TestApp {
    pub fn host(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self, token: &str) -> Client {
        Client::new(&self.host(), Some(token.to_string())).unwrap()
    }

    pub fn admin(&self) -> Client {
        self.client(&self.admin_token)
    }

    /// Creates an org and a user with `role` in it; returns the user's token.
    pub async fn user_with_role(&self, org: &str, user: &str, role: Option<Role>) -> String {
        let NewToken { token, .. } = self.admin().create_user(user, false).await.unwrap();
        if let Some(role) = role {
            self.admin().set_member(org, user, role).await.unwrap();
        }
        token
    }

    pub async fn org(&self, name: &str, visibility: Visibility) {
        self.admin().create_org(name, visibility).await.unwrap();
    }

    /// The `evident` binary pointed at this server.
    pub fn cli(&self, token: &str, org: &str) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("evident").unwrap();
        cmd.env_clear()
            .env("EVIDENT_HOST", self.host())
            .env("EVIDENT_API_TOKEN", token)
            .env("EVIDENT_ORG", org)
            .env("TZ", "Europe/Berlin")
            .env("HOME", self.dir.path());
        cmd
    }
}

/// Raw HTTP, for checking status codes and bodies the typed client would hide.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A deterministic 64-hex fingerprint for test artifacts.
pub fn fp(n: u32) -> String {
    format!("{n:064x}")
}

/// An environment of the given kind, without a description.
pub fn env_request(kind: &str) -> evident_core::api::EnvironmentRequest {
    evident_core::api::EnvironmentRequest {
        kind: kind.into(),
        description: String::new(),
    }
}

/// A report of one instance running `name` with `fingerprint`.
pub fn one_instance(name: &str, fingerprint: &str) -> evident_core::snapshot::EnvironmentReport {
    evident_core::snapshot::EnvironmentReport {
        artifacts: vec![evident_core::snapshot::ReportedInstance {
            digests: [(name.to_string(), fingerprint.to_string())].into(),
            ..Default::default()
        }],
        kind: None,
    }
}
