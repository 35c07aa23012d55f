//! sha256 digests: computing them and reading the forms indexes and
//! registries write (`sha256:<hex>` or bare hex).

use sha2::{Digest, Sha256};

/// Lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hex part of `sha256:<hex>` or of a bare 64-digit hex digest
/// (Helm's index), lowercased; `None` for other algorithms or malformed
/// text.
pub(crate) fn parse_sha256(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_digests_are_read_in_both_forms() {
        let hex = sha256_hex(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_sha256(&hex), Some(hex.clone()));
        assert_eq!(parse_sha256(&format!("sha256:{hex}")), Some(hex.clone()));
        assert_eq!(
            parse_sha256(&format!("sha256:{}", hex.to_uppercase())),
            Some(hex.clone())
        );
        assert_eq!(parse_sha256(&format!("sha512:{hex}")), None);
        assert_eq!(parse_sha256("sha256:abc"), None);
    }
}
