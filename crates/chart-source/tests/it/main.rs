//! Integration tests against real local servers: an axum chart
//! repository, Debian's distribution registry with charts pushed by real
//! Helm, and a token-auth registry.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod http_repository;
mod oci;
