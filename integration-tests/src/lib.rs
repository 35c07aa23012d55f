//! End-to-end test harness for Caravel.
//!
//! - [`control_plane`]: etcd, kube-apiserver and kube-controller-manager
//!   (v1.20.2) on loopback ports, with a kubeconfig.
//! - [`node_simulator`]: marks pods Running/Ready (or crash-looping,
//!   completed, failed) and provides volumes for claims, since there are no
//!   nodes.
//! - [`redis`]: a real `redis-server` per test that can be stopped and
//!   started again.
//! - [`git_server`]: bare Git repositories written with git2 and served over
//!   smart HTTP by `git http-backend`.
//! - [`otlp`]: an OTLP/gRPC trace receiver that keeps the spans.
//! - [`chart_repo`], [`oci_registry`]: Helm chart repositories (axum, and
//!   Debian's docker-registry with charts pushed by real Helm).
//! - [`process`]: child processes (Caravel binaries) that die with the test
//!   process.
//! - [`env`]: the environment shared by all tests of a test binary,
//!   [`env::shared`].

pub mod chart_repo;
pub mod control_plane;
pub mod env;
pub mod git_server;
pub mod net;
pub mod node_simulator;
pub mod oci_registry;
pub mod otlp;
pub mod process;
pub mod redis;

pub use control_plane::ControlPlane;
pub use env::{shared, TestEnv};
pub use git_server::{Changes, GitRepo, GitServer};
pub use node_simulator::NodeSimulator;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::{binary_path, ManagedProcess, ProcessSpec};
pub use redis::Redis;

/// Selects ring as the process-wide rustls crypto provider (kube is built
/// with `ring`). Idempotent.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
