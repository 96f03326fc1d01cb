//! The evident server: REST API over a [`Store`].
//!
//! [`Application::build`] binds the listener first and reports the bound address, so tests can
//! run a real server on `127.0.0.1:0`.

mod auth;
mod cache;
pub mod demo;
mod error;
mod extract;
pub mod ledger;
pub mod repos;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::Router;
use evident_store::Store;
use jiff::Timestamp;
use tokio::net::TcpListener;

pub use auth::mint_token;
pub use error::ApiError;
pub use ledger::Ledger;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// A token the operator chose for the first site admin (`admin`); stored hashed.
    pub bootstrap_token: Option<String>,
    /// Load the cyber-dojo demo data set.
    pub demo: bool,
    /// Mirrors, URL policy and refresh schedule of tracked repositories.
    pub git: repos::GitConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: ([127, 0, 0, 1], 8080).into(),
            database_url: "sqlite::memory:".to_string(),
            max_body_bytes: 8 * 1024 * 1024,
            bootstrap_token: None,
            demo: false,
            git: repos::GitConfig::default(),
        }
    }
}

/// Shared by all handlers.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ledger: Ledger,
    pub repos: Arc<repos::Repos>,
    tokens: cache::TtlCache<String, evident_store::TokenRecord>,
    orgs: cache::TtlCache<String, evident_store::OrgRecord>,
    roles: cache::TtlCache<(i64, i64), Option<evident_core::api::Role>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] evident_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Setup(String),
}

impl From<ApiError> for ServerError {
    fn from(e: ApiError) -> Self {
        Self::Setup(e.message)
    }
}

/// A bound, ready-to-serve server.
pub struct Application {
    store: Arc<dyn Store>,
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    /// With `--demo`: a token that reads and writes the demo org.
    pub demo_token: Option<String>,
    /// True when nobody can log in yet (no users and no bootstrap token).
    pub needs_bootstrap: bool,
}

impl Application {
    /// Opens the store, applies bootstrap and demo settings, and binds the listener.
    pub async fn build(config: Config) -> Result<Self, ServerError> {
        let store = evident_store::connect(&config.database_url).await?;
        Self::build_with_store(config, store).await
    }

    pub async fn build_with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<Self, ServerError> {
        if let Some(token) = &config.bootstrap_token {
            let admin = match store.user("admin").await? {
                Some(u) => u,
                None => store.create_user("admin", true, Timestamp::now()).await?,
            };
            auth::install_token(store.as_ref(), &admin, token).await?;
        }
        let ledger = Ledger::new(store.clone());
        let demo_token = if config.demo {
            Some(demo::load(&ledger).await?)
        } else {
            None
        };
        let needs_bootstrap = store.users_count().await? == 0;
        let ttl = std::time::Duration::from_secs(5);
        let repos = Arc::new(repos::Repos::new(store.clone(), config.git.clone()));
        repos.spawn_refresher();
        let state = Arc::new(AppState {
            store: store.clone(),
            ledger,
            repos,
            tokens: cache::TtlCache::new(ttl, 10_000),
            orgs: cache::TtlCache::new(ttl, 10_000),
            roles: cache::TtlCache::new(ttl, 100_000),
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .nest("/api/v1", routes::router())
            .fallback(routes::not_found)
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .with_state(state);
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        Ok(Self {
            store,
            listener,
            router,
            addr,
            demo_token,
            needs_bootstrap,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then closes the store.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve);
        self.store.close().await;
        served
    }
}

impl AppState {
    /// Membership changed here: apply it at once rather than after the cache's lifetime.
    fn forget_roles(&self) {
        self.roles.clear();
    }
}

async fn ready(State(app): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    app.store.users_count().await?;
    Ok("ready")
}
