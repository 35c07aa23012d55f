//! Sprig's random values: `randAlphaNum`, `randAlpha`, `randAscii`,
//! `randNumeric`, `randBytes`, `randInt` and `uuidv4`, from the operating
//! system's generator as Sprig's `crypto/rand` ones are.

use base64::Engine;
use caravel_gotemplate::{FuncError, Funcs, Value};
use rand::rngs::OsRng;
use rand::Rng;

use crate::convert::{int_arg, want};

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC: &[u8] = b"0123456789";

/// `count` characters drawn from `alphabet`; a negative count is empty, as
/// Sprig ignores goutils' error.
fn random_string(count: i64, alphabet: &[u8]) -> String {
    let count = usize::try_from(count).unwrap_or(0);
    let mut rng = OsRng;
    (0..count)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

pub fn register(funcs: &mut Funcs) {
    let alphanumeric: Vec<u8> = [ALPHA, NUMERIC].concat();
    let ascii: Vec<u8> = (32u8..127).collect();
    let strings: [(&'static str, Vec<u8>); 4] = [
        ("randAlphaNum", alphanumeric),
        ("randAlpha", ALPHA.to_vec()),
        ("randNumeric", NUMERIC.to_vec()),
        ("randAscii", ascii),
    ];
    for (name, alphabet) in strings {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(Value::from(random_string(int_arg(&args[0])?, &alphabet)))
        });
    }
    funcs.insert("randBytes", |_, args| {
        want("randBytes", args, 1)?;
        let count = usize::try_from(int_arg(&args[0])?)
            .map_err(|_| FuncError::new("runtime error: makeslice: len out of range"))?;
        let mut bytes = vec![0u8; count];
        OsRng.fill(bytes.as_mut_slice());
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    funcs.insert("randInt", |_, args| {
        want("randInt", args, 2)?;
        let (min, max) = (int_arg(&args[0])?, int_arg(&args[1])?);
        let span = max.checked_sub(min).filter(|span| *span > 0);
        let Some(span) = span else {
            return Err(FuncError::new("invalid argument to Intn"));
        };
        Ok(Value::Int(min + rand::thread_rng().gen_range(0..span)))
    });
    funcs.insert("uuidv4", |_, args| {
        want("uuidv4", args, 0)?;
        Ok(Value::from(uuid::Uuid::new_v4().to_string()))
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_use_only_their_alphabet() {
        let s = random_string(200, NUMERIC);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(random_string(-3, ALPHA), "");
    }
}
