//! Sprig's cryptographic functions: hashes (`sha256sum`, …), `bcrypt`,
//! `htpasswd`, `derivePassword`, keys (`genPrivateKey`), certificates
//! (`genCA`, `genSelfSignedCert`, `genSignedCert` and their `WithKey`
//! forms, `buildCustomCert`) and `encryptAES`/`decryptAES`. Failures that
//! Sprig returns as text (`genPrivateKey "x"` is `Unknown type x`) are
//! text here too.

mod certs;
mod der;
mod keys;

use std::net::IpAddr;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use caravel_gotemplate::{FuncError, Funcs, Object, Value};
use hmac::Mac;
use rand::rngs::OsRng;
use rand::RngCore;
use sha1::Digest;

use crate::convert::{int_arg, list_arg, string_arg, to_string, want};

pub use certs::{create_certificate, parse_certificate_pem, CertificateRequest, Issuer};
pub use keys::{pem_decode, pem_encode, PrivateKey};

// === Hashes ===

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adler-32 (RFC 1950), as Go's `hash/adler32`.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

// === Passwords ===

/// Go's `bcrypt.GenerateFromPassword` at the default cost, `$2a$` form.
fn bcrypt_hash(password: &str) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .to_string();
    }
    match bcrypt::hash_with_result(password, 10) {
        Ok(parts) => parts.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

const MASTER_PASSWORD_SEED: &str = "com.lyndir.masterpassword";

fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt, then
/// HMAC-SHA256 choosing a template and its characters).
pub fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.as_bytes().to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|params| {
            scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut message = MASTER_PASSWORD_SEED.as_bytes().to_vec();
    message.extend((site.len() as u32).to_be_bytes());
    message.extend(site.as_bytes());
    message.extend(counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password: bad key".to_string();
    };
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars = template_characters(class);
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

// === AES ===

type Aes256CbcEncryptor = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDecryptor = cbc::Decryptor<aes::Aes256>;

/// The password as an AES-256 key: its first 32 bytes, zero-padded.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let len = password.len().min(32);
    key[..len].copy_from_slice(&password.as_bytes()[..len]);
    key
}

/// Sprig's `encryptAES`: AES-256-CBC, PKCS#7 padding, random IV first,
/// base64.
pub fn encrypt_aes(password: &str, plaintext: &str) -> String {
    if plaintext.is_empty() {
        return String::new();
    }
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let mut content = plaintext.as_bytes().to_vec();
    let padding = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(padding as u8, padding));
    let mut encryptor = Aes256CbcEncryptor::new(&aes_key(password).into(), &iv.into());
    for block in content.chunks_mut(16) {
        encryptor.encrypt_block_mut(block.into());
    }
    let mut out = iv.to_vec();
    out.extend(content);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Sprig's `decryptAES`, failing where Go's code panics with Go's runtime
/// messages.
pub fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = crate::encoding::base64_decode(crypt64)
        .map_err(|at| format!("illegal base64 data at input byte {at}"))?;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt64.len() / 4 * 3
        ));
    }
    let (iv, content) = crypt.split_at(16);
    if content.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".to_string());
    }
    let mut decrypted = content.to_vec();
    let mut decryptor = Aes256CbcDecryptor::new(&aes_key(password).into(), iv.into());
    for block in decrypted.chunks_mut(16) {
        decryptor.decrypt_block_mut(block.into());
    }
    let Some(&padding) = decrypted.last() else {
        return Err("runtime error: index out of range [-1]".to_string());
    };
    let end = decrypted.len() as i64 - i64::from(padding);
    if end < 0 {
        return Err(format!("runtime error: slice bounds out of range [:{end}]"));
    }
    decrypted.truncate(end as usize);
    Ok(String::from_utf8_lossy(&decrypted).into_owned())
}

// === Certificates ===

/// Sprig's `certificate` struct: PEM `Cert` and `Key`.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub cert: String,
    pub key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::from(self.cert.as_str())),
            "Key" => Some(Value::from(self.key.as_str())),
            _ => None,
        }
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn to_value(&self) -> Option<Value> {
        Some(Value::map([
            ("Cert", Value::from(self.cert.as_str())),
            ("Key", Value::from(self.key.as_str())),
        ]))
    }
}

fn certificate_arg(v: &Value) -> Result<Certificate, FuncError> {
    let wrong = || {
        FuncError::new(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            v.type_name()
        ))
    };
    match v {
        Value::Object(o) if o.type_name() == "sprig.certificate" => {
            let text = |name: &str| {
                o.field(name)
                    .and_then(|f| f.as_str().map(str::to_string))
                    .ok_or_else(wrong)
            };
            Ok(Certificate {
                cert: text("Cert")?,
                key: text("Key")?,
            })
        }
        _ => Err(wrong()),
    }
}

fn ips_arg(v: &Value) -> Result<Vec<IpAddr>, FuncError> {
    list_arg(v)?
        .iter()
        .map(|item| {
            let text = item.as_str().ok_or_else(|| {
                FuncError::new(format!(
                    "error parsing ip: {} is not a string",
                    to_string(item)
                ))
            })?;
            text.parse::<IpAddr>()
                .map_err(|_| FuncError::new(format!("error parsing ip: {text}")))
        })
        .collect()
}

fn dns_names_arg(v: &Value) -> Result<Vec<String>, FuncError> {
    list_arg(v)?
        .iter()
        .map(|item| {
            item.as_str().map(str::to_string).ok_or_else(|| {
                FuncError::new(format!(
                    "error processing alternate dns name: {} is not a string",
                    to_string(item)
                ))
            })
        })
        .collect()
}

fn key_from_pem(pem: &str) -> Result<PrivateKey, FuncError> {
    PrivateKey::parse_pem(pem).map_err(|e| FuncError::new(format!("parsing private key: {e}")))
}

fn generated_rsa_key() -> Result<PrivateKey, FuncError> {
    PrivateKey::generate_rsa(2048)
        .map_err(|e| FuncError::new(format!("error generating rsa key: {e}")))
}

/// Sprig's `getCertAndKey`: the certificate and the subject's key, as an
/// object.
fn certificate_value(
    request: &CertificateRequest,
    key: &PrivateKey,
    issuer: Option<Issuer<'_>>,
) -> Result<Value, FuncError> {
    let cert = create_certificate(request, key, issuer)
        .map_err(|e| FuncError::new(format!("error creating certificate: {e}")))?;
    let key = key
        .to_pem()
        .map_err(|e| FuncError::new(format!("error pem-encoding key: {e}")))?;
    Ok(Value::object(Certificate { cert, key }))
}

fn signed_certificate(
    request: &CertificateRequest,
    key: &PrivateKey,
    ca: &Certificate,
) -> Result<Value, FuncError> {
    let ca_cert =
        parse_certificate_pem(&ca.cert, "decodedSignerCert.Bytes").map_err(FuncError::new)?;
    let ca_key = PrivateKey::parse_pem(&ca.key)
        .map_err(|e| FuncError::new(format!("error parsing private key: {e}")))?;
    certificate_value(
        request,
        key,
        Some(Issuer {
            certificate: &ca_cert,
            key: &ca_key,
        }),
    )
}

fn build_custom_cert(b64cert: &str, b64key: &str) -> Result<Value, FuncError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let cert = engine
        .decode(b64cert)
        .map_err(|_| FuncError::new("unable to decode base64 certificate"))?;
    let key = engine
        .decode(b64key)
        .map_err(|_| FuncError::new("unable to decode base64 private key"))?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    parse_certificate_pem(&cert, "decodedCert.Bytes").map_err(FuncError::new)?;
    PrivateKey::parse_pem(&key)
        .map_err(|e| FuncError::new(format!("error parsing private key: {e}")))?;
    Ok(Value::object(Certificate { cert, key }))
}

fn ca_request(common_name: &str, days_valid: i64) -> CertificateRequest {
    CertificateRequest {
        common_name: common_name.to_string(),
        ips: Vec::new(),
        dns_names: Vec::new(),
        days_valid,
        is_ca: true,
    }
}

fn leaf_request(args: &[Value]) -> Result<CertificateRequest, FuncError> {
    Ok(CertificateRequest {
        common_name: string_arg(&args[0])?.to_string(),
        ips: ips_arg(&args[1])?,
        dns_names: dns_names_arg(&args[2])?,
        days_valid: int_arg(&args[3])?,
        is_ca: false,
    })
}

// === Registration ===

pub fn register(funcs: &mut Funcs) {
    type Hash = fn(&[u8]) -> String;
    let hashes: [(&'static str, Hash); 4] = [
        ("sha1sum", |b| hex(&sha1::Sha1::digest(b))),
        ("sha256sum", |b| hex(&sha2::Sha256::digest(b))),
        ("sha512sum", |b| hex(&sha2::Sha512::digest(b))),
        ("adler32sum", |b| adler32(b).to_string()),
    ];
    for (name, hash) in hashes {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(Value::from(hash(string_arg(&args[0])?.as_bytes())))
        });
    }
    funcs.insert("bcrypt", |_, args| {
        want("bcrypt", args, 1)?;
        Ok(Value::from(bcrypt_hash(string_arg(&args[0])?)))
    });
    funcs.insert("htpasswd", |_, args| {
        want("htpasswd", args, 2)?;
        let user = string_arg(&args[0])?;
        let password = string_arg(&args[1])?;
        if user.contains(':') {
            return Ok(Value::from(format!("invalid username: {user}")));
        }
        Ok(Value::from(format!("{user}:{}", bcrypt_hash(password))))
    });
    funcs.insert("derivePassword", |_, args| {
        want("derivePassword", args, 5)?;
        let counter = int_arg(&args[0])? as u32;
        let [kind, password, user, site] =
            [&args[1], &args[2], &args[3], &args[4]].map(|a| string_arg(a).map(str::to_string));
        Ok(Value::from(derive_password(
            counter, &kind?, &password?, &user?, &site?,
        )))
    });
    funcs.insert("genPrivateKey", |_, args| {
        want("genPrivateKey", args, 1)?;
        let pem = match PrivateKey::generate(string_arg(&args[0])?) {
            Ok(key) => key
                .to_pem()
                .unwrap_or_else(|e| format!("failed to generate private key: {e}")),
            Err(message) if message.starts_with("Unknown type") => message,
            Err(e) => format!("failed to generate private key: {e}"),
        };
        Ok(Value::from(pem))
    });
    funcs.insert("buildCustomCert", |_, args| {
        want("buildCustomCert", args, 2)?;
        build_custom_cert(string_arg(&args[0])?, string_arg(&args[1])?)
    });
    funcs.insert("genCA", |_, args| {
        want("genCA", args, 2)?;
        let request = ca_request(string_arg(&args[0])?, int_arg(&args[1])?);
        certificate_value(&request, &generated_rsa_key()?, None)
    });
    funcs.insert("genCAWithKey", |_, args| {
        want("genCAWithKey", args, 3)?;
        let request = ca_request(string_arg(&args[0])?, int_arg(&args[1])?);
        let key = key_from_pem(string_arg(&args[2])?)?;
        certificate_value(&request, &key, None)
    });
    funcs.insert("genSelfSignedCert", |_, args| {
        want("genSelfSignedCert", args, 4)?;
        let request = leaf_request(args)?;
        certificate_value(&request, &generated_rsa_key()?, None)
    });
    funcs.insert("genSelfSignedCertWithKey", |_, args| {
        want("genSelfSignedCertWithKey", args, 5)?;
        let request = leaf_request(args)?;
        let key = key_from_pem(string_arg(&args[4])?)?;
        certificate_value(&request, &key, None)
    });
    funcs.insert("genSignedCert", |_, args| {
        want("genSignedCert", args, 5)?;
        let request = leaf_request(args)?;
        let ca = certificate_arg(&args[4])?;
        signed_certificate(&request, &generated_rsa_key()?, &ca)
    });
    funcs.insert("genSignedCertWithKey", |_, args| {
        want("genSignedCertWithKey", args, 6)?;
        let request = leaf_request(args)?;
        let ca = certificate_arg(&args[4])?;
        let key = key_from_pem(string_arg(&args[5])?)?;
        signed_certificate(&request, &key, &ca)
    });
    funcs.insert("encryptAES", |_, args| {
        want("encryptAES", args, 2)?;
        Ok(Value::from(encrypt_aes(
            string_arg(&args[0])?,
            string_arg(&args[1])?,
        )))
    });
    funcs.insert("decryptAES", |_, args| {
        want("decryptAES", args, 2)?;
        decrypt_aes(string_arg(&args[0])?, string_arg(&args[1])?)
            .map(Value::from)
            .map_err(FuncError::new)
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use x509_cert::der::{Decode, Encode};
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, SubjectAltName, SubjectKeyIdentifier,
    };

    fn parse(pem: &str) -> x509_cert::Certificate {
        parse_certificate_pem(pem, "test").unwrap()
    }

    fn extension<T: for<'a> Decode<'a>>(
        cert: &x509_cert::Certificate,
        oid: &str,
    ) -> Option<(bool, T)> {
        let ext = cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id.to_string() == oid)?;
        Some((
            ext.critical,
            T::from_der(ext.extn_value.as_bytes()).unwrap(),
        ))
    }

    fn validity_days(cert: &x509_cert::Certificate) -> u64 {
        let v = &cert.tbs_certificate.validity;
        (v.not_after.to_unix_duration() - v.not_before.to_unix_duration()).as_secs() / 86_400
    }

    fn common_name(name: &x509_cert::name::Name) -> String {
        name.to_string()
    }

    fn leaf(common_name: &str, days_valid: i64) -> CertificateRequest {
        CertificateRequest {
            common_name: common_name.into(),
            ips: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            dns_names: vec!["a.example".into(), "b.example".into()],
            days_valid,
            is_ca: false,
        }
    }

    /// Checks `cert`'s signature with the public key of `signer`.
    fn assert_signed_by(cert: &x509_cert::Certificate, signer: &x509_cert::Certificate) {
        let tbs = cert.tbs_certificate.to_der().unwrap();
        let signature = cert.signature.raw_bytes();
        let spki = signer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        match signer
            .tbs_certificate
            .subject_public_key_info
            .algorithm
            .oid
            .to_string()
            .as_str()
        {
            "1.2.840.113549.1.1.1" => {
                let key = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
                let verifier = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key);
                let signature = rsa::pkcs1v15::Signature::try_from(signature).unwrap();
                verifier.verify(&tbs, &signature).unwrap();
            }
            "1.2.840.10045.2.1" => {
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
                let signature = p256::ecdsa::Signature::from_der(signature).unwrap();
                key.verify(&tbs, &signature).unwrap();
            }
            other => panic!("unexpected signer key {other}"),
        }
    }

    #[test]
    fn gen_ca_makes_a_self_signed_ca_valid_for_the_given_days() {
        let key = PrivateKey::generate_rsa(2048).unwrap();
        let ca = parse(&create_certificate(&ca_request("my-ca", 30), &key, None).unwrap());
        let (critical, constraints) = extension::<BasicConstraints>(&ca, "2.5.29.19").unwrap();
        assert!(critical && constraints.ca);
        assert!(extension::<SubjectKeyIdentifier>(&ca, "2.5.29.14").is_some());
        assert!(extension::<AuthorityKeyIdentifier>(&ca, "2.5.29.35").is_none());
        assert_eq!(common_name(&ca.tbs_certificate.subject), "CN=my-ca");
        assert_eq!(ca.tbs_certificate.issuer, ca.tbs_certificate.subject);
        assert_eq!(validity_days(&ca), 30);
        assert_signed_by(&ca, &ca);
    }

    #[test]
    fn signed_cert_carries_sans_and_is_signed_by_the_ca() {
        let ca_key = PrivateKey::generate("ecdsa").unwrap();
        let ca_pem = create_certificate(&ca_request("ca", 10), &ca_key, None).unwrap();
        let ca = parse(&ca_pem);
        let leaf_key = PrivateKey::generate("ed25519").unwrap();
        let issuer = Issuer {
            certificate: &ca,
            key: &ca_key,
        };
        let cert = parse(&create_certificate(&leaf("leaf", 7), &leaf_key, Some(issuer)).unwrap());

        assert_eq!(cert.tbs_certificate.issuer, ca.tbs_certificate.subject);
        assert_eq!(common_name(&cert.tbs_certificate.subject), "CN=leaf");
        assert_eq!(validity_days(&cert), 7);
        let (_, constraints) = extension::<BasicConstraints>(&cert, "2.5.29.19").unwrap();
        assert!(!constraints.ca);
        let (_, ca_key_id) = extension::<SubjectKeyIdentifier>(&ca, "2.5.29.14").unwrap();
        let (_, authority) = extension::<AuthorityKeyIdentifier>(&cert, "2.5.29.35").unwrap();
        assert_eq!(authority.key_identifier.unwrap(), ca_key_id.0);
        let (critical, sans) = extension::<SubjectAltName>(&cert, "2.5.29.17").unwrap();
        assert!(!critical);
        let names: Vec<String> = sans
            .0
            .iter()
            .map(|n| match n {
                GeneralName::DnsName(d) => d.to_string(),
                GeneralName::IpAddress(ip) => format!("{:?}", ip.as_bytes()),
                other => panic!("unexpected name {other:?}"),
            })
            .collect();
        let loopback_v6 = format!("{:?}", std::net::Ipv6Addr::LOCALHOST.octets());
        assert_eq!(
            names,
            [
                "a.example",
                "b.example",
                "[10, 0, 0, 1]",
                loopback_v6.as_str()
            ]
        );
        assert_signed_by(&cert, &ca);
    }

    #[test]
    fn signed_cert_rejects_a_ca_key_that_does_not_match() {
        let ca_key = PrivateKey::generate("ecdsa").unwrap();
        let ca = parse(&create_certificate(&ca_request("ca", 1), &ca_key, None).unwrap());
        let other = PrivateKey::generate("ecdsa").unwrap();
        let issuer = Issuer {
            certificate: &ca,
            key: &other,
        };
        let err = create_certificate(&leaf("l", 1), &other, Some(issuer)).unwrap_err();
        assert_eq!(
            err,
            "x509: provided PrivateKey doesn't match parent's PublicKey"
        );
    }

    #[test]
    fn keys_round_trip_through_gos_pem_forms() {
        for kind in ["ecdsa", "ed25519"] {
            let pem = PrivateKey::generate(kind).unwrap().to_pem().unwrap();
            let again = PrivateKey::parse_pem(&pem).unwrap().to_pem().unwrap();
            assert_eq!(pem, again, "{kind}");
        }
        let err = PrivateKey::parse_pem("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n").err();
        assert_eq!(
            err.as_deref(),
            Some("no private key data in PEM block of type FOO")
        );
    }

    #[test]
    fn template_functions_return_certificate_objects() {
        let mut set = caravel_gotemplate::Template::with_funcs(crate::funcs());
        set.parse(
            "t",
            r#"{{ $ca := genCA "ca" 2 }}{{ $c := genSignedCert "x" nil (list "x.example") 2 $ca }}{{ $ca.Cert }}{{ $c.Cert }}{{ $c.Key }}"#,
        )
        .unwrap();
        let out = set.execute("t", &Value::Nil).unwrap();
        let blocks: Vec<&str> = out
            .split_inclusive("-----\n")
            .filter(|b| b.starts_with("-----BEGIN"))
            .collect();
        assert_eq!(
            blocks,
            [
                "-----BEGIN CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\n",
                "-----BEGIN RSA PRIVATE KEY-----\n"
            ]
        );
        let certs: Vec<x509_cert::Certificate> = out
            .match_indices("-----BEGIN CERTIFICATE-----")
            .map(|(at, _)| parse(&out[at..]))
            .collect();
        assert_signed_by(&certs[1], &certs[0]);
    }

    #[test]
    fn aes_round_trips_and_decrypts_sprig_ciphertext() {
        let sealed = encrypt_aes("secret", "hello");
        assert_eq!(decrypt_aes("secret", &sealed).unwrap(), "hello");
        // Made by Helm's encryptAES with a key longer than 32 bytes.
        let helm = "OXAcorhV9iXTsL1iVcBLX1XHBd6UfB3EFzgHhLFiF8A=";
        assert_eq!(
            decrypt_aes("0123456789abcdef0123456789abcdef0", helm).unwrap(),
            "x"
        );
    }

    #[test]
    fn derive_password_matches_sprig() {
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
        assert_eq!(adler32(b"hello"), 103_547_413);
    }
}
