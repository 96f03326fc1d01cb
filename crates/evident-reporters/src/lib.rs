//! Reporters: find out what runs in a runtime environment and describe it as an
//! [`EnvironmentReport`], one [`ReportedInstance`](evident_core::snapshot::ReportedInstance) per
//! running instance (container, pod, task, function). The server counts instances per
//! fingerprint into replicas.
//!
//! - [`docker`]: the local Docker daemon, over its Unix socket;
//! - [`k8s`]: the Running pods of a Kubernetes cluster;
//! - [`ecs`]: the RUNNING tasks of an ECS cluster or service;
//! - [`lambda`]: Lambda functions.
//!
//! [`Collector`] picks one of them at run time, and [`run_loop`] reports on a schedule.
//!
//! The cloud APIs are called with the field's client libraries: Kubernetes with `kube` (and the
//! `k8s-openapi` types), ECS and Lambda with the AWS SDK (`aws-config`, `aws-sdk-ecs`,
//! `aws-sdk-lambda`). AWS credentials come from the SDK's default chain (environment, profiles
//! with `AssumeRole`, web identity or `credential_process`, the ECS/EKS container endpoint, EC2
//! instance metadata; SSO profiles are not compiled in) unless [`Credentials`] are given. TLS is
//! rustls with `ring` throughout; no OpenSSL.

mod aws;
pub mod docker;
pub mod ecs;
mod error;
mod http;
mod image;
pub mod k8s;
pub mod lambda;
mod run_loop;

use std::path::PathBuf;

pub use aws::Credentials;
pub use error::ReporterError;
pub use evident_core::snapshot::EnvironmentReport;
pub use run_loop::{run_loop, LoopConfig, LoopSummary, MIN_INTERVAL};

pub use ecs::EcsOptions;
pub use k8s::K8sOptions;
pub use lambda::LambdaOptions;

/// The report `type` (and Kosli report path segment) of each reporter.
pub const KIND_DOCKER: &str = "docker";
pub const KIND_K8S: &str = "K8S";
pub const KIND_ECS: &str = "ECS";
pub const KIND_LAMBDA: &str = "lambda";

/// One of the reporters, with its options, chosen at run time (`evident snapshot docker|k8s|ecs|lambda`).
#[derive(Debug, Clone)]
pub enum Collector {
    /// The Docker daemon listening on this socket.
    Docker {
        socket: PathBuf,
    },
    K8s(K8sOptions),
    Ecs(EcsOptions),
    Lambda(LambdaOptions),
}

impl Collector {
    /// The report kind: `docker`, `K8S`, `ECS` or `lambda`.
    pub fn kind(&self) -> &'static str {
        match self {
            Collector::Docker { .. } => KIND_DOCKER,
            Collector::K8s(_) => KIND_K8S,
            Collector::Ecs(_) => KIND_ECS,
            Collector::Lambda(_) => KIND_LAMBDA,
        }
    }

    /// Collects a report of what runs now.
    pub async fn collect(&self) -> Result<EnvironmentReport, ReporterError> {
        match self {
            Collector::Docker { socket } => docker::collect(socket).await,
            Collector::K8s(o) => k8s::collect(o).await,
            Collector::Ecs(o) => ecs::collect(o).await,
            Collector::Lambda(o) => lambda::collect(o).await,
        }
    }
}
