//! End-to-end tests: the three services as processes against a real
//! kube-apiserver, real Redis and real Git. One test binary; one shared
//! control plane per run; each test gets its own namespaces, Redis and
//! services, so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod app_of_apps;
mod cache;
mod chart;
mod cli;
mod crds;
mod deletion;
mod dockerfile;
mod errors;
mod examples;
mod helm;
mod helm_repo;
mod hooks;
mod namespaced;
mod options;
mod ownership;
mod retry;
mod rollback;
mod sync;
mod tracing;
mod waves;
