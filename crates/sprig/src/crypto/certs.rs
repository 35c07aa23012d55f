//! X.509 certificates as Sprig's `genCA`/`genSelfSignedCert`/`genSignedCert`
//! make them through Go's `x509.CreateCertificate`: random 128-bit serial,
//! `CN` subject, validity from now for a number of days, key usages,
//! server and client auth, SANs, and subject/authority key identifiers.

use std::net::IpAddr;

use chrono::{Datelike, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use sha1::{Digest, Sha1};
use x509_cert::der::{Decode, Encode};

use super::der;
use super::keys::{pem_decode, pem_encode, PrivateKey};

/// What to certify (Go's template from Sprig's `getBaseCertTemplate`).
pub struct CertificateRequest {
    pub common_name: String,
    pub ips: Vec<IpAddr>,
    pub dns_names: Vec<String>,
    pub days_valid: i64,
    pub is_ca: bool,
}

/// The issuing CA: its certificate (parsed) and key.
pub struct Issuer<'a> {
    pub certificate: &'a x509_cert::Certificate,
    pub key: &'a PrivateKey,
}

/// Parses a `CERTIFICATE` PEM the way Sprig checks CA and custom
/// certificates.
pub fn parse_certificate_pem(text: &str, what: &str) -> Result<x509_cert::Certificate, String> {
    let (_, bytes) = pem_decode(text).ok_or("unable to decode certificate")?;
    x509_cert::Certificate::from_der(&bytes)
        .map_err(|e| format!("error parsing certificate: {what}: x509: malformed certificate: {e}"))
}

/// `pkix.Name{CommonName: cn}` in DER: PrintableString when it can be.
fn name_der(common_name: &str) -> Vec<u8> {
    if common_name.is_empty() {
        return der::sequence(&[]);
    }
    let printable = common_name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        der::PRINTABLE_STRING
    } else {
        der::UTF8_STRING
    };
    let attribute = der::sequence(&[
        der::oid(&[2, 5, 4, 3]),
        der::tlv(tag, common_name.as_bytes()),
    ]);
    der::sequence(&[der::tlv(der::SET, &attribute)])
}

fn time_der(unix: i64) -> Vec<u8> {
    let t = chrono::DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default();
    if (1950..2050).contains(&t.year()) {
        der::tlv(
            der::UTC_TIME,
            t.format("%y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    } else {
        der::tlv(
            der::GENERALIZED_TIME,
            t.format("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    }
}

fn extension(arcs: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![der::oid(arcs)];
    if critical {
        parts.push(der::tlv(der::BOOLEAN, &[0xff]));
    }
    parts.push(der::tlv(der::OCTET_STRING, value));
    der::sequence(&parts)
}

/// Go's `marshalKeyUsage`: bit i of the usage is bit i of the string,
/// trailing zero bits dropped.
fn key_usage(bits: u16) -> Vec<u8> {
    let bytes = [
        (bits as u8).reverse_bits(),
        ((bits >> 8) as u8).reverse_bits(),
    ];
    let used = if bytes[1] != 0 { 2 } else { 1 };
    let last = bytes[used - 1];
    let unused = if last == 0 {
        0
    } else {
        last.trailing_zeros() as u8
    };
    let mut body = vec![unused];
    body.extend_from_slice(&bytes[..used]);
    der::tlv(der::BIT_STRING, &body)
}

const DIGITAL_SIGNATURE: u16 = 1;
const KEY_ENCIPHERMENT: u16 = 1 << 2;
const CERT_SIGN: u16 = 1 << 5;

fn subject_key_id(spki: &[u8]) -> Result<Vec<u8>, String> {
    let info =
        x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki).map_err(|e| e.to_string())?;
    Ok(Sha1::digest(info.subject_public_key.raw_bytes()).to_vec())
}

fn extension_value(cert: &x509_cert::Certificate, arcs: &str) -> Option<Vec<u8>> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == arcs)
        .map(|e| e.extn_value.as_bytes().to_vec())
}

/// Creates the certificate for `subject_key`, signed by `issuer` or
/// self-signed; returns its PEM.
pub fn create_certificate(
    request: &CertificateRequest,
    subject_key: &PrivateKey,
    issuer: Option<Issuer<'_>>,
) -> Result<String, String> {
    let spki = subject_key.public_key_info()?;
    let subject = name_der(&request.common_name);
    let (issuer_name, signing_key, parent_key_id) = match &issuer {
        Some(ca) => {
            let name = ca
                .certificate
                .tbs_certificate
                .subject
                .to_der()
                .map_err(|e| e.to_string())?;
            let ca_spki = ca
                .certificate
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| e.to_string())?;
            if ca.key.public_key_info()? != ca_spki {
                return Err("x509: provided PrivateKey doesn't match parent's PublicKey".into());
            }
            // The SKI extension's value is an OCTET STRING of the id.
            let key_id = extension_value(ca.certificate, "2.5.29.14")
                .and_then(|v| x509_cert::der::asn1::OctetString::from_der(&v).ok())
                .map(|o| o.as_bytes().to_vec());
            (name, ca.key, key_id)
        }
        None => (subject.clone(), subject_key, None),
    };
    let own_key_id = if request.is_ca {
        Some(subject_key_id(&spki)?)
    } else {
        None
    };
    // Self-signed: the parent is the template itself.
    let parent_key_id = if issuer.is_none() {
        own_key_id.clone()
    } else {
        parent_key_id
    };

    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    let now = Utc::now().timestamp();
    let not_after = now.saturating_add(request.days_valid.saturating_mul(86_400));

    let mut usage = DIGITAL_SIGNATURE | KEY_ENCIPHERMENT;
    if request.is_ca {
        usage |= CERT_SIGN;
    }
    let mut extensions = vec![
        extension(&[2, 5, 29, 15], true, &key_usage(usage)),
        extension(
            &[2, 5, 29, 37],
            false,
            &der::sequence(&[
                der::oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]),
                der::oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2]),
            ]),
        ),
        extension(
            &[2, 5, 29, 19],
            true,
            &der::sequence(&if request.is_ca {
                vec![der::tlv(der::BOOLEAN, &[0xff])]
            } else {
                vec![]
            }),
        ),
    ];
    if let Some(id) = &own_key_id {
        extensions.push(extension(
            &[2, 5, 29, 14],
            false,
            &der::tlv(der::OCTET_STRING, id),
        ));
    }
    if issuer_name != subject {
        if let Some(id) = parent_key_id.filter(|id| !id.is_empty()) {
            extensions.push(extension(
                &[2, 5, 29, 35],
                false,
                &der::sequence(&[der::tlv(0x80, &id)]),
            ));
        }
    }
    if !request.dns_names.is_empty() || !request.ips.is_empty() {
        let mut names: Vec<Vec<u8>> = request
            .dns_names
            .iter()
            .map(|name| der::tlv(0x82, name.as_bytes()))
            .collect();
        for ip in &request.ips {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => v6.octets().to_vec(),
                },
            };
            names.push(der::tlv(0x87, &bytes));
        }
        let subject_is_empty = request.common_name.is_empty();
        extensions.push(extension(
            &[2, 5, 29, 17],
            subject_is_empty,
            &der::sequence(&names),
        ));
    }

    let algorithm = signing_key.signature_algorithm()?;
    let tbs = der::sequence(&[
        der::explicit(0, &der::tlv(der::INTEGER, &[2])),
        der::unsigned_integer(&serial),
        algorithm.clone(),
        issuer_name,
        der::sequence(&[time_der(now), time_der(not_after)]),
        subject,
        spki,
        der::explicit(3, &der::sequence(&extensions)),
    ]);
    let signature = signing_key.sign(&tbs)?;
    let certificate = der::sequence(&[tbs, algorithm, der::bit_string(&signature)]);
    Ok(pem_encode("CERTIFICATE", &certificate))
}
