//! Sprig's `b64enc`, `b64dec`, `b32enc` and `b32dec`: Go's standard
//! (padded) base64 and base32 encodings. A decoding error is not an error
//! in Sprig: the function returns the error's text (`illegal base64 data
//! at input byte 4`), with Go's byte offsets.
//!
//! Decoded bytes that are not UTF-8 become replacement characters, since
//! template values are Rust strings (Go would keep the raw bytes).

use caravel_gotemplate::{Funcs, Value};

use crate::convert::{string_arg, want};

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// An encoding or decoding function over the string argument.
type Encoder = fn(&str) -> String;

/// Registers the encoding functions.
pub fn register(funcs: &mut Funcs) {
    let functions: [(&str, Encoder); 4] = [
        ("b64enc", |s| base64_encode(s.as_bytes())),
        ("b64dec", |s| decoded_or_error(base64_decode(s), "base64")),
        ("b32enc", |s| base32_encode(s.as_bytes())),
        ("b32dec", |s| decoded_or_error(base32_decode(s), "base32")),
    ];
    for (name, f) in functions {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(Value::from(f(string_arg(&args[0])?)))
        });
    }
}

/// The decoded text, or Go's `CorruptInputError` text.
fn decoded_or_error(decoded: Result<Vec<u8>, usize>, encoding: &str) -> String {
    match decoded {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(offset) => format!("illegal {encoding} data at input byte {offset}"),
    }
}

/// `base64.StdEncoding.EncodeToString`.
pub fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_value(c: u8) -> Option<u32> {
    BASE64.iter().position(|&b| b == c).map(|p| p as u32)
}

/// `base64.StdEncoding.DecodeString`: newlines are skipped, padding is
/// required; the error is the offending byte offset.
pub fn base64_decode(input: &str) -> Result<Vec<u8>, usize> {
    let src = input.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quantum = [0u32; 4];
        let mut len = 4;
        let mut trailing_garbage = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = base64_value(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                // "==" is expected; the first "=" is consumed.
                while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                trailing_garbage = Some(si);
            }
            len = j;
            break;
        }
        let n = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3];
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(offset) = trailing_garbage {
            return Err(offset);
        }
    }
    Ok(out)
}

/// `base32.StdEncoding.EncodeToString`.
pub fn base32_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(5) * 8);
    for chunk in input.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let n = block.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(char::from(BASE32[(n >> (35 - 5 * i) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base32.StdEncoding.DecodeString`: newlines are removed first, padding
/// is required; the error is the offending byte offset.
pub fn base32_decode(input: &str) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = input
        .bytes()
        .filter(|&b| b != b'\n' && b != b'\r')
        .collect();
    let total = src.len();
    let mut rest: &[u8] = &src;
    let mut out = Vec::with_capacity(total / 8 * 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut quantum = [0u8; 8];
        let mut len = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, after)) = rest.split_first() else {
                return Err(total - j);
            };
            rest = after;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(total);
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(total - rest.len() + k - 1);
                    }
                }
                len = j;
                end = true;
                if matches!(len, 1 | 3 | 6) {
                    return Err(total - rest.len() - 1);
                }
                break;
            }
            match BASE32.iter().position(|&b| b == c) {
                Some(v) => quantum[j] = v as u8,
                None => return Err(total - rest.len() - 1),
            }
            j += 1;
        }
        let q = quantum;
        let bytes = [
            q[0] << 3 | q[1] >> 2,
            q[1] << 6 | q[2] << 1 | q[3] >> 4,
            q[3] << 4 | q[4] >> 1,
            q[4] << 7 | q[5] << 2 | q[6] >> 3,
            q[6] << 5 | q[7],
        ];
        let produced = match len {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&bytes[..produced]);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_reports_gos_offsets() {
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YW\nJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YR==").unwrap(), b"a");
        assert_eq!(base64_decode("YWJ"), Err(0));
        assert_eq!(base64_decode("Y!Jj"), Err(1));
        assert_eq!(base64_decode("YQ==YQ=="), Err(4));
        assert_eq!(base64_decode("YQ="), Err(3));
    }

    #[test]
    fn base32_round_trips_and_reports_gos_offsets() {
        assert_eq!(base32_encode(b"hello"), "NBSWY3DP");
        assert_eq!(base32_encode(b"a"), "ME======");
        assert_eq!(base32_decode("NBSWY3DP").unwrap(), b"hello");
        assert_eq!(base32_decode("ME======").unwrap(), b"a");
        assert_eq!(base32_decode("NBSWY3DP\r\n").unwrap(), b"hello");
        assert_eq!(base32_decode("NBSWY3D"), Err(0));
        assert_eq!(base32_decode("nbswy3dp"), Err(0));
    }
}
