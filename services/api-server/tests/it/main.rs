//! Component tests of the api-server over real gRPC, started in-process
//! with `run`. `requests` needs no cluster: the Kubernetes API it points at
//! is unreachable on purpose, which is also what a cluster outage looks
//! like. `cluster` runs against the real kube-apiserver of the end-to-end
//! harness (or `CARAVEL_TEST_KUBECONFIG`), with no controller: it checks
//! what the api-server writes.

mod cluster;
mod requests;
mod support;
