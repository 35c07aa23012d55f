//! Component tests of the api-server over real gRPC, started in-process
//! with `run`. These need no cluster: the Kubernetes API they point at is
//! unreachable on purpose, which is also what a cluster outage looks like.
//! Behaviour against a real kube-apiserver is covered by `integration-tests`.

mod requests;
mod support;
