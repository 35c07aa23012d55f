//! `getHostByName`. Helm replaces Sprig's lookup with one returning an
//! empty string unless DNS lookups are enabled (`--enable-dns`), so
//! [`register`] installs that; [`register_dns_lookup`] installs the real
//! lookup, bounded in time so that a template cannot hang a render.

use std::net::ToSocketAddrs;
use std::sync::mpsc;
use std::time::Duration;

use caravel_gotemplate::{Funcs, Value};
use rand::Rng;

use crate::convert::{string_arg, want};

/// How long a lookup may take before it counts as failed.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Helm's default `getHostByName`: DNS disabled, always empty.
pub fn register(funcs: &mut Funcs) {
    funcs.insert("getHostByName", |_, args| {
        want("getHostByName", args, 1)?;
        string_arg(&args[0])?;
        Ok(Value::from(""))
    });
}

/// Sprig's own `getHostByName` (Helm's `--enable-dns`): one of the
/// addresses `name` resolves to, chosen at random; empty when it does not
/// resolve within [`LOOKUP_TIMEOUT`].
pub fn register_dns_lookup(funcs: &mut Funcs) {
    funcs.insert("getHostByName", |_, args| {
        want("getHostByName", args, 1)?;
        let name = string_arg(&args[0])?;
        let addresses = lookup_host(name, LOOKUP_TIMEOUT);
        if addresses.is_empty() {
            return Ok(Value::from(""));
        }
        let pick = rand::thread_rng().gen_range(0..addresses.len());
        Ok(Value::from(addresses[pick].clone()))
    });
}

/// The addresses of `name`, or none when the lookup fails or takes longer
/// than `timeout` (the lookup thread is then left to finish on its own).
pub fn lookup_host(name: &str, timeout: Duration) -> Vec<String> {
    let (send, receive) = mpsc::channel();
    let host = name.to_string();
    let spawned = std::thread::Builder::new()
        .name("getHostByName".into())
        .spawn(move || {
            let found: Vec<String> = (host.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip().to_string()).collect())
                .unwrap_or_default();
            // The receiver may have given up; nothing to do then.
            let _ = send.send(found);
        });
    if spawned.is_err() {
        return Vec::new();
    }
    let mut found = receive.recv_timeout(timeout).unwrap_or_default();
    found.dedup();
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_a_loopback_address() {
        let found = lookup_host("localhost", LOOKUP_TIMEOUT);
        assert!(
            found.iter().any(|a| a == "127.0.0.1" || a == "::1"),
            "{found:?}"
        );
    }

    #[test]
    fn a_name_that_cannot_resolve_gives_nothing() {
        assert!(lookup_host("no-such-host.invalid", LOOKUP_TIMEOUT).is_empty());
    }
}
