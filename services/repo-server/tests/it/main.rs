//! Component tests: the repo-server in-process over real gRPC, real Git
//! repositories in temp dirs and a real `redis-server`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod directory;
mod grpc;
mod helm;
mod resolve;
mod security;
mod ssh;
mod support;
