//! Private keys as Sprig makes and reads them: generation (`genPrivateKey`),
//! Go's PEM forms (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1,
//! `DSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY` for Ed25519), public key info
//! and certificate signatures.

use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};

use super::der;

pub enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    /// NIST P-256, the curve Sprig generates.
    Ecdsa(p256::SecretKey),
    Ed25519(ed25519_dalek::SigningKey),
    Dsa(Box<dsa::SigningKey>),
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";

// === PEM ===

/// Go's `pem.EncodeToMemory`: base64 in 64-column lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Go's `pem.Decode` of the first block: its type and bytes.
pub fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    if label.contains('\n') {
        return None;
    }
    let body = &rest[label_end + 5..];
    let end = body.find(&format!("-----END {label}-----"))?;
    let encoded: String = body[..end]
        .lines()
        .filter(|line| !line.contains(':'))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some((label.to_string(), bytes))
}

// === impl PrivateKey ===

impl PrivateKey {
    pub fn generate_rsa(bits: usize) -> Result<PrivateKey, String> {
        rsa::RsaPrivateKey::new(&mut OsRng, bits)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| e.to_string())
    }

    /// `genPrivateKey`'s types: `rsa` (4096 bits, also the empty type),
    /// `dsa` (L2048N256), `ecdsa` (P-256), `ed25519`.
    pub fn generate(kind: &str) -> Result<PrivateKey, String> {
        match kind {
            "" | "rsa" => PrivateKey::generate_rsa(4096),
            "dsa" => {
                let components = dsa::Components::generate(&mut OsRng, dsa::KeySize::DSA_2048_256);
                Ok(PrivateKey::Dsa(Box::new(dsa::SigningKey::generate(
                    &mut OsRng, components,
                ))))
            }
            "ecdsa" => Ok(PrivateKey::Ecdsa(p256::SecretKey::random(&mut OsRng))),
            "ed25519" => Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(
                &mut OsRng,
            ))),
            other => Err(format!("Unknown type {other}")),
        }
    }

    /// Go's `pemBlockForKey`.
    pub fn to_pem(&self) -> Result<String, String> {
        match self {
            PrivateKey::Rsa(k) => {
                let der = k.to_pkcs1_der().map_err(|e| e.to_string())?;
                Ok(pem_encode("RSA PRIVATE KEY", der.as_bytes()))
            }
            PrivateKey::Ecdsa(k) => {
                // SEC 1 with the curve and the public key, as Go's
                // `MarshalECPrivateKey` writes it.
                let point = k.public_key().to_encoded_point(false);
                let sec1 = der::sequence(&[
                    der::tlv(der::INTEGER, &[1]),
                    der::tlv(der::OCTET_STRING, &k.to_bytes()),
                    der::explicit(0, &der::oid(&[1, 2, 840, 10045, 3, 1, 7])),
                    der::explicit(1, &der::bit_string(point.as_bytes())),
                ]);
                Ok(pem_encode("EC PRIVATE KEY", &sec1))
            }
            PrivateKey::Ed25519(k) => {
                // PKCS#8 v1 without the public key, as Go writes it.
                let info = der::sequence(&[
                    der::tlv(der::INTEGER, &[0]),
                    der::sequence(&[der::oid(&[1, 3, 101, 112])]),
                    der::tlv(
                        der::OCTET_STRING,
                        &der::tlv(der::OCTET_STRING, k.as_bytes()),
                    ),
                ]);
                Ok(pem_encode("PRIVATE KEY", &info))
            }
            PrivateKey::Dsa(k) => {
                let public = k.verifying_key();
                let c = public.components();
                let ints = [c.p(), c.q(), c.g(), public.y(), k.x()]
                    .map(|n| der::unsigned_integer(&n.to_bytes_be()));
                let mut parts = vec![der::tlv(der::INTEGER, &[0])];
                parts.extend(ints);
                Ok(pem_encode("DSA PRIVATE KEY", &der::sequence(&parts)))
            }
        }
    }

    /// Go's `parsePrivateKeyPEM` (Sprig's), with its messages.
    pub fn parse_pem(text: &str) -> Result<PrivateKey, String> {
        let (label, bytes) = pem_decode(text).ok_or("no PEM data in input")?;
        if label == "PRIVATE KEY" {
            return parse_pkcs8(&bytes).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
        }
        let Some(kind) = label.strip_suffix(" PRIVATE KEY") else {
            return Err(format!("no private key data in PEM block of type {label}"));
        };
        match kind {
            "RSA" => rsa::RsaPrivateKey::from_pkcs1_der(&bytes)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
            "EC" => p256::SecretKey::from_sec1_der(&bytes)
                .map(PrivateKey::Ecdsa)
                .map_err(|e| format!("parsing EC private key from PEM: {e}")),
            "DSA" => {
                parse_dsa(&bytes).map_err(|e| format!("parsing DSA private key from PEM: {e}"))
            }
            _ => Err(format!("invalid private key type {label}")),
        }
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn public_key_info(&self) -> Result<Vec<u8>, String> {
        match self {
            PrivateKey::Rsa(k) => k
                .to_public_key()
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string()),
            PrivateKey::Ecdsa(k) => k
                .public_key()
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string()),
            PrivateKey::Ed25519(k) => Ok(der::sequence(&[
                der::sequence(&[der::oid(&[1, 3, 101, 112])]),
                der::bit_string(k.verifying_key().as_bytes()),
            ])),
            PrivateKey::Dsa(_) => Err("x509: unsupported public key type: *dsa.PublicKey".into()),
        }
    }

    /// The signature `AlgorithmIdentifier` Go's `CreateCertificate` uses
    /// for this key type.
    pub fn signature_algorithm(&self) -> Result<Vec<u8>, String> {
        match self {
            PrivateKey::Rsa(_) => Ok(der::sequence(&[
                der::oid(&[1, 2, 840, 113549, 1, 1, 11]),
                der::tlv(der::NULL, &[]),
            ])),
            PrivateKey::Ecdsa(_) => Ok(der::sequence(&[der::oid(&[1, 2, 840, 10045, 4, 3, 2])])),
            PrivateKey::Ed25519(_) => Ok(der::sequence(&[der::oid(&[1, 3, 101, 112])])),
            PrivateKey::Dsa(_) => {
                Err("x509: certificate private key does not implement crypto.Signer".into())
            }
        }
    }

    /// Signs `message` with [`PrivateKey::signature_algorithm`].
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            PrivateKey::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**k).clone());
                let signature = signer.try_sign(message).map_err(|e| e.to_string())?;
                Ok(signature.to_vec())
            }
            PrivateKey::Ecdsa(k) => {
                let signer = p256::ecdsa::SigningKey::from(k);
                let signature: p256::ecdsa::Signature =
                    signer.try_sign(message).map_err(|e| e.to_string())?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            PrivateKey::Ed25519(k) => {
                Ok(ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec())
            }
            PrivateKey::Dsa(_) => {
                Err("x509: certificate private key does not implement crypto.Signer".into())
            }
        }
    }
}

fn parse_pkcs8(bytes: &[u8]) -> Result<PrivateKey, String> {
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(bytes)
        .map_err(|e| format!("x509: failed to parse private key: {e}"))?;
    let algorithm = info.algorithm.oid.to_string();
    match algorithm.as_str() {
        OID_RSA => rsa::RsaPrivateKey::from_pkcs8_der(bytes)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| format!("x509: failed to parse RSA private key embedded in PKCS#8: {e}")),
        OID_EC => p256::SecretKey::from_pkcs8_der(bytes)
            .map(PrivateKey::Ecdsa)
            .map_err(|e| format!("x509: failed to parse EC private key embedded in PKCS#8: {e}")),
        OID_ED25519 => ed25519_dalek::SigningKey::from_pkcs8_der(bytes)
            .map(PrivateKey::Ed25519)
            .map_err(|e| format!("x509: invalid Ed25519 private key: {e}")),
        other => Err(format!(
            "x509: PKCS#8 wrapping contained private key with unknown algorithm: {other}"
        )),
    }
}

fn parse_dsa(bytes: &[u8]) -> Result<PrivateKey, String> {
    use x509_cert::der::Decode;
    let ints = Vec::<x509_cert::der::asn1::Int>::from_der(bytes).map_err(|e| e.to_string())?;
    let [_, p, q, g, y, x] = ints.as_slice() else {
        return Err("asn1: structure error: wrong number of fields".into());
    };
    let big = |i: &x509_cert::der::asn1::Int| dsa::BigUint::from_bytes_be(i.as_bytes());
    let components =
        dsa::Components::from_components(big(p), big(q), big(g)).map_err(|e| e.to_string())?;
    let public =
        dsa::VerifyingKey::from_components(components, big(y)).map_err(|e| e.to_string())?;
    let key = dsa::SigningKey::from_components(public, big(x)).map_err(|e| e.to_string())?;
    Ok(PrivateKey::Dsa(Box::new(key)))
}
