//! Ingress (`networking.k8s.io` and the legacy `extensions` group): healthy
//! once the controller has published a load-balancer address.

use serde_json::Value;

use crate::code::{Health, HealthCode};
use crate::fields::list;

pub(crate) fn ingress(obj: &Value) -> Health {
    if list(obj, &["status", "loadBalancer", "ingress"]).is_empty() {
        Health::of(HealthCode::Progressing)
    } else {
        Health::healthy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress_obj(api_version: &str, status: Value) -> Value {
        json!({"apiVersion": api_version, "kind": "Ingress", "metadata": {"name": "web"}, "status": status})
    }

    #[test]
    fn an_ingress_without_a_load_balancer_address_is_progressing() {
        let i = ingress_obj("networking.k8s.io/v1", json!({"loadBalancer": {}}));
        assert_eq!(crate::assess(&i), Some(Health::of(HealthCode::Progressing)));
    }

    #[test]
    fn an_ingress_with_a_load_balancer_address_is_healthy() {
        let i = ingress_obj(
            "networking.k8s.io/v1",
            json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
        );
        assert_eq!(crate::assess(&i), Some(Health::healthy()));
    }

    #[test]
    fn a_legacy_extensions_ingress_follows_the_same_rule() {
        let i = ingress_obj("extensions/v1beta1", json!({}));
        assert_eq!(crate::assess(&i), Some(Health::of(HealthCode::Progressing)));
    }
}
