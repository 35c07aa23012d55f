//! Sprig's numeric functions: integer arithmetic on `cast.ToInt64`
//! conversions (`add`, `div`, `max`, …, wrapping as Go's int64 does),
//! float functions (`floor`, `round`, `maxf`, …), the decimal arithmetic of
//! `addf`/`subf`/`mulf`/`divf` (shopspring/decimal: exact sums and
//! products, quotients rounded to 16 places), conversions (`int`,
//! `float64`, `atoi`, `toDecimal`) and number sequences (`until`,
//! `untilStep`, `seq`).

use caravel_gotemplate::{FuncError, Funcs, Value};
use num_bigint::BigInt;

use crate::convert::{float_arg, int_arg, string_arg, to_float64, to_int64, want, want_at_least};

const DIVIDE_BY_ZERO: &str = "runtime error: integer divide by zero";

pub fn register(funcs: &mut Funcs) {
    register_integer(funcs);
    register_float(funcs);
    register_conversions(funcs);
    register_sequences(funcs);
}

// === integers ===

fn register_integer(funcs: &mut Funcs) {
    funcs.insert("add", |_, args| {
        Ok(Value::Int(
            args.iter()
                .fold(0i64, |sum, v| sum.wrapping_add(to_int64(v))),
        ))
    });
    funcs.insert("add1", |_, args| {
        want("add1", args, 1)?;
        Ok(Value::Int(to_int64(&args[0]).wrapping_add(1)))
    });
    funcs.insert("sub", |_, args| {
        want("sub", args, 2)?;
        Ok(Value::Int(
            to_int64(&args[0]).wrapping_sub(to_int64(&args[1])),
        ))
    });
    funcs.insert("mul", |_, args| {
        want_at_least("mul", args, 1)?;
        Ok(Value::Int(
            args[1..].iter().fold(to_int64(&args[0]), |product, v| {
                product.wrapping_mul(to_int64(v))
            }),
        ))
    });
    funcs.insert("div", |_, args| {
        want("div", args, 2)?;
        let divisor = to_int64(&args[1]);
        if divisor == 0 {
            return Err(FuncError::new(DIVIDE_BY_ZERO));
        }
        Ok(Value::Int(to_int64(&args[0]).wrapping_div(divisor)))
    });
    funcs.insert("mod", |_, args| {
        want("mod", args, 2)?;
        let divisor = to_int64(&args[1]);
        if divisor == 0 {
            return Err(FuncError::new(DIVIDE_BY_ZERO));
        }
        Ok(Value::Int(to_int64(&args[0]).wrapping_rem(divisor)))
    });
    for name in ["max", "biggest"] {
        funcs.insert(name, move |_, args| {
            want_at_least(name, args, 1)?;
            Ok(Value::Int(
                args.iter().map(to_int64).fold(i64::MIN, i64::max),
            ))
        });
    }
    funcs.insert("min", |_, args| {
        want_at_least("min", args, 1)?;
        Ok(Value::Int(
            args.iter().map(to_int64).fold(i64::MAX, i64::min),
        ))
    });
}

// === floats ===

fn register_float(funcs: &mut Funcs) {
    funcs.insert("maxf", |_, args| {
        want_at_least("maxf", args, 1)?;
        Ok(Value::Float(
            args[1..]
                .iter()
                .fold(to_float64(&args[0]), |m, v| go_max(m, to_float64(v))),
        ))
    });
    funcs.insert("minf", |_, args| {
        want_at_least("minf", args, 1)?;
        Ok(Value::Float(
            args[1..]
                .iter()
                .fold(to_float64(&args[0]), |m, v| go_min(m, to_float64(v))),
        ))
    });
    funcs.insert("floor", |_, args| {
        want("floor", args, 1)?;
        Ok(Value::Float(to_float64(&args[0]).floor()))
    });
    funcs.insert("ceil", |_, args| {
        want("ceil", args, 1)?;
        Ok(Value::Float(to_float64(&args[0]).ceil()))
    });
    funcs.insert("round", |_, args| {
        want_at_least("round", args, 2)?;
        let places = int_arg(&args[1])?;
        let round_on = match args.get(2) {
            Some(v) => float_arg(v)?,
            None => 0.5,
        };
        for extra in args.iter().skip(3) {
            float_arg(extra)?;
        }
        Ok(Value::Float(round(to_float64(&args[0]), places, round_on)))
    });
    funcs.insert("addf", |_, args| {
        decimal_op(&Value::Float(0.0), args, |a, b| Ok(a.add(&b)))
    });
    funcs.insert("add1f", |_, args| {
        want("add1f", args, 1)?;
        decimal_op(&args[0], &[Value::Int(1)], |a, b| Ok(a.add(&b)))
    });
    funcs.insert("subf", |_, args| {
        want_at_least("subf", args, 1)?;
        decimal_op(&args[0], &args[1..], |a, b| Ok(a.add(&b.neg())))
    });
    funcs.insert("mulf", |_, args| {
        want_at_least("mulf", args, 1)?;
        decimal_op(&args[0], &args[1..], |a, b| Ok(a.mul(&b)))
    });
    funcs.insert("divf", |_, args| {
        want_at_least("divf", args, 1)?;
        decimal_op(&args[0], &args[1..], |a, b| a.div_round(&b, 16))
    });
}

/// Go's `math.Max`: infinities win, then NaN, and +0 beats -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: infinities win, then NaN, and -0 beats +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Sprig's `round`: scale by 10^places, round up when the fraction
/// reaches `round_on` (toward +inf, so negative halves go down), unscale.
pub fn round(value: f64, places: i64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places as f64);
    let digit = pow * value;
    let fraction = digit - digit.trunc();
    let rounded = if fraction >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    rounded / pow
}

fn decimal_op(
    first: &Value,
    rest: &[Value],
    op: impl Fn(Decimal, Decimal) -> Result<Decimal, FuncError>,
) -> Result<Value, FuncError> {
    let mut acc = Decimal::from_f64(to_float64(first))?;
    for v in rest {
        acc = op(acc, Decimal::from_f64(to_float64(v))?)?;
    }
    Ok(Value::Float(acc.to_f64()))
}

/// An exact decimal `coefficient × 10^exponent`, as shopspring/decimal
/// computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Decimal {
    coefficient: BigInt,
    exponent: i64,
}

impl Decimal {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    pub fn from_f64(f: f64) -> Result<Decimal, FuncError> {
        if !f.is_finite() {
            let shown = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            return Err(FuncError::new(format!(
                "Cannot create a Decimal from {shown}"
            )));
        }
        // `{:e}` prints the shortest round-trip digits: `-1.25e-7`.
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int_part}{frac_part}");
        let coefficient = digits.parse::<BigInt>().unwrap_or_default();
        Ok(Decimal {
            coefficient,
            exponent: exp - frac_part.len() as i64,
        })
    }

    fn rescaled(&self, exponent: i64) -> BigInt {
        let shift = (self.exponent - exponent).max(0) as u32;
        &self.coefficient * BigInt::from(10u8).pow(shift)
    }

    pub fn add(&self, other: &Decimal) -> Decimal {
        let exponent = self.exponent.min(other.exponent);
        Decimal {
            coefficient: self.rescaled(exponent) + other.rescaled(exponent),
            exponent,
        }
    }

    pub fn neg(&self) -> Decimal {
        Decimal {
            coefficient: -&self.coefficient,
            exponent: self.exponent,
        }
    }

    pub fn mul(&self, other: &Decimal) -> Decimal {
        Decimal {
            coefficient: &self.coefficient * &other.coefficient,
            exponent: self.exponent + other.exponent,
        }
    }

    /// `DivRound`: the quotient to `places` decimal places, halves rounded
    /// away from zero.
    pub fn div_round(&self, other: &Decimal, places: i64) -> Result<Decimal, FuncError> {
        if other.coefficient == BigInt::default() {
            return Err(FuncError::new("decimal division by 0"));
        }
        // self / other × 10^places = c1 × 10^shift / c2.
        let shift = self.exponent - other.exponent + places;
        let ten = BigInt::from(10u8);
        let (numerator, denominator) = if shift >= 0 {
            (
                &self.coefficient * ten.pow(shift as u32),
                other.coefficient.clone(),
            )
        } else {
            (
                self.coefficient.clone(),
                &other.coefficient * ten.pow((-shift) as u32),
            )
        };
        // BigInt division truncates toward zero, as Go's QuoRem does.
        let mut quotient = &numerator / &denominator;
        let remainder = &numerator % &denominator;
        let twice: BigInt = remainder.magnitude().clone().into();
        let twice = twice * 2;
        let divisor: BigInt = denominator.magnitude().clone().into();
        if twice >= divisor {
            let negative = (numerator.sign() == num_bigint::Sign::Minus)
                != (denominator.sign() == num_bigint::Sign::Minus);
            if negative {
                quotient -= 1;
            } else {
                quotient += 1;
            }
        }
        Ok(Decimal {
            coefficient: quotient,
            exponent: -places,
        })
    }

    /// The nearest float64.
    pub fn to_f64(&self) -> f64 {
        format!("{}e{}", self.coefficient, self.exponent)
            .parse()
            .unwrap_or(0.0)
    }
}

// === conversions ===

fn register_conversions(funcs: &mut Funcs) {
    for name in ["int", "int64"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 1)?;
            Ok(Value::Int(to_int64(&args[0])))
        });
    }
    funcs.insert("float64", |_, args| {
        want("float64", args, 1)?;
        Ok(Value::Float(to_float64(&args[0])))
    });
    funcs.insert("atoi", |_, args| {
        want("atoi", args, 1)?;
        let s = string_arg(&args[0])?;
        Ok(Value::Int(s.parse::<i64>().unwrap_or(0)))
    });
    funcs.insert("toDecimal", |_, args| {
        want("toDecimal", args, 1)?;
        let text = caravel_gotemplate::fmt::sprint_value(&args[0]);
        Ok(Value::Int(i64::from_str_radix(&text, 8).unwrap_or(0)))
    });
}

// === sequences ===

fn register_sequences(funcs: &mut Funcs) {
    funcs.insert("until", |_, args| {
        want("until", args, 1)?;
        let count = int_arg(&args[0])?;
        let step = if count < 0 { -1 } else { 1 };
        Ok(ints(until_step(0, count, step)))
    });
    funcs.insert("untilStep", |_, args| {
        want("untilStep", args, 3)?;
        let (start, stop, step) = (int_arg(&args[0])?, int_arg(&args[1])?, int_arg(&args[2])?);
        Ok(ints(until_step(start, stop, step)))
    });
    funcs.insert("seq", |_, args| {
        let params = args.iter().map(int_arg).collect::<Result<Vec<_>, _>>()?;
        let numbers = seq(&params);
        Ok(Value::from(
            numbers
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ))
    });
}

fn ints(numbers: Vec<i64>) -> Value {
    Value::list(numbers.into_iter().map(Value::Int))
}

/// Sprig's `untilStep`: from `start` toward `stop` (excluded) by `step`;
/// empty when the step does not lead there.
pub fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return out;
        }
        while i > stop {
            out.push(i);
            match i.checked_add(step) {
                Some(next) => i = next,
                None => break,
            }
        }
        return out;
    }
    if step <= 0 {
        return out;
    }
    while i < stop {
        out.push(i);
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    out
}

/// Sprig's `seq`, after the shell's: `seq LAST`, `seq FIRST LAST`,
/// `seq FIRST STEP LAST`, counting down when LAST is below FIRST.
pub fn seq(params: &[i64]) -> Vec<i64> {
    match *params {
        [end] => {
            let increment = if end < 1 { -1 } else { 1 };
            until_step(1, end.wrapping_add(increment), increment)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(start, end.wrapping_add(step), step)
        }
        [start, step, end] => {
            let mut increment = 1;
            if end < start {
                increment = -1;
                if step > 0 {
                    return Vec::new();
                }
            }
            until_step(start, end.wrapping_add(increment), step)
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dec(f: f64) -> Decimal {
        Decimal::from_f64(f).unwrap()
    }

    #[test]
    fn decimal_sums_are_exact() {
        assert_eq!(dec(1.1).add(&dec(2.2)).to_f64(), 3.3);
        assert_eq!(dec(0.1).mul(&dec(3.0)).to_f64(), 0.3);
        assert_eq!(dec(1.0).add(&dec(0.9).neg()).to_f64(), 0.1);
    }

    #[test]
    fn decimal_quotients_round_to_sixteen_places() {
        assert_eq!(
            dec(1.0).div_round(&dec(3.0), 16).unwrap().to_f64(),
            0.3333333333333333
        );
        assert_eq!(
            dec(2.0).div_round(&dec(3.0), 16).unwrap().to_f64(),
            0.6666666666666667
        );
        assert_eq!(
            dec(-2.0).div_round(&dec(3.0), 16).unwrap().to_f64(),
            -0.6666666666666667
        );
        assert!(dec(1.0).div_round(&dec(0.0), 16).is_err());
    }

    #[test]
    fn round_goes_up_from_the_threshold() {
        assert_eq!(round(1.23456, 2, 0.5), 1.23);
        assert_eq!(round(-2.5, 0, 0.5), -3.0);
        assert_eq!(round(3.7, 0, 0.8), 3.0);
        assert_eq!(round(1234.5678, -2, 0.5), 1200.0);
    }

    #[test]
    fn seq_counts_like_the_shell() {
        assert_eq!(seq(&[5]), vec![1, 2, 3, 4, 5]);
        assert_eq!(seq(&[0]), vec![1, 0]);
        assert_eq!(seq(&[1, 2, 10]), vec![1, 3, 5, 7, 9]);
        assert_eq!(seq(&[10, -3, 1]), vec![10, 7, 4, 1]);
        assert!(seq(&[3, 1, 1]).is_empty());
    }
}
