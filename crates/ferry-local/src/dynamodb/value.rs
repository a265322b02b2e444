//! DynamoDB attribute values (`AttributeValue` in the model): the ten types, read from the
//! wire with DynamoDB's validation and words, written back, compared and sized the way the
//! DynamoDB Developer Guide describes ("Supported data types", "Item sizes and formats").
//!
//! Numbers are decimals of up to 38 significant digits between 1E-130 and
//! 9.99…E+125 in magnitude, compared and added as decimals (never as floats or strings) and
//! written in DynamoDB's canonical form (`"01.50"` reads back as `"1.5"`). Binary values are
//! kept as bytes (compared unsigned, byte by byte) and travel as base64.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// An item: attribute name → value.
pub type Item = BTreeMap<String, AttrValue>;

/// One attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    S(String),
    N(Decimal),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttrValue>),
    L(Vec<AttrValue>),
    Ss(Vec<String>),
    Ns(Vec<Decimal>),
    Bs(Vec<Vec<u8>>),
}

impl AttrValue {
    /// The type's name on the wire (`S`, `N`, `BOOL`, `SS`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::M(_) => "M",
            AttrValue::L(_) => "L",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    /// Reads a wire value (`{"S": "x"}`, …). The error is DynamoDB's message without the
    /// "One or more parameter values were invalid: " lead, which callers add where AWS does.
    pub fn from_json(value: &Value) -> Result<AttrValue, String> {
        let Some(object) = value.as_object() else {
            return Err("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into());
        };
        let set: Vec<(&String, &Value)> = object.iter().filter(|(_, v)| !v.is_null()).collect();
        let [(kind, v)] = set.as_slice() else {
            return Err(if set.is_empty() {
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into()
            } else {
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes".into()
            });
        };
        let string = |v: &Value| v.as_str().map(str::to_string).ok_or_else(|| format!("{kind} must be a string"));
        let list = |v: &Value| v.as_array().cloned().ok_or_else(|| format!("{kind} must be a list"));
        Ok(match kind.as_str() {
            "S" => AttrValue::S(string(v)?),
            "N" => AttrValue::N(Decimal::parse(&string(v)?)?),
            "B" => AttrValue::B(base64_decode(&string(v)?).ok_or("Invalid Base64 value for B")?),
            "BOOL" => AttrValue::Bool(v.as_bool().ok_or("BOOL must be a boolean")?),
            "NULL" => {
                if v.as_bool() != Some(true) {
                    return Err("Null attribute value types must have the value of true".into());
                }
                AttrValue::Null
            }
            "M" => {
                let map = v.as_object().ok_or("M must be a map")?;
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    out.insert(k.clone(), AttrValue::from_json(v)?);
                }
                AttrValue::M(out)
            }
            "L" => AttrValue::L(list(v)?.iter().map(AttrValue::from_json).collect::<Result<_, _>>()?),
            "SS" => {
                let items = list(v)?.iter().map(string).collect::<Result<Vec<_>, _>>()?;
                check_set("string", &items, |s| s.clone())?;
                AttrValue::Ss(items)
            }
            "NS" => {
                let items = list(v)?.iter().map(|v| string(v).and_then(|s| Decimal::parse(&s))).collect::<Result<Vec<_>, _>>()?;
                check_set("number", &items, Decimal::to_string)?;
                AttrValue::Ns(items)
            }
            "BS" => {
                let items = list(v)?
                    .iter()
                    .map(|v| string(v).and_then(|s| base64_decode(&s).ok_or_else(|| "Invalid Base64 value for BS".to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                check_set("binary", &items, |b| base64_encode(b))?;
                AttrValue::Bs(items)
            }
            other => return Err(format!("Supplied AttributeValue has an unknown datatype: {other}")),
        })
    }

    /// The wire form.
    pub fn to_json(&self) -> Value {
        let (kind, v) = match self {
            AttrValue::S(s) => ("S", Value::String(s.clone())),
            AttrValue::N(n) => ("N", Value::String(n.to_string())),
            AttrValue::B(b) => ("B", Value::String(base64_encode(b))),
            AttrValue::Bool(b) => ("BOOL", Value::Bool(*b)),
            AttrValue::Null => ("NULL", Value::Bool(true)),
            AttrValue::M(m) => ("M", Value::Object(item_to_json(m))),
            AttrValue::L(l) => ("L", Value::Array(l.iter().map(AttrValue::to_json).collect())),
            AttrValue::Ss(s) => ("SS", Value::Array(s.iter().cloned().map(Value::String).collect())),
            AttrValue::Ns(n) => ("NS", Value::Array(n.iter().map(|n| Value::String(n.to_string())).collect())),
            AttrValue::Bs(b) => ("BS", Value::Array(b.iter().map(|b| Value::String(base64_encode(b))).collect())),
        };
        let mut out = Map::new();
        out.insert(kind.to_string(), v);
        Value::Object(out)
    }

    /// The value's size as DynamoDB counts it toward the 400 KB item limit ("Item sizes and
    /// formats"): strings and binaries by their bytes, a number by about one byte per two
    /// significant digits plus one, `BOOL` and `NULL` one byte, a map or list 3 bytes plus
    /// one per element plus its elements (and a map's keys).
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => n.size(),
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttrValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttrValue::Ss(s) => s.iter().map(String::len).sum(),
            AttrValue::Ns(n) => n.iter().map(Decimal::size).sum(),
            AttrValue::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }

    /// Equality as the `=` operator sees it: sets compare as sets (order does not matter).
    pub fn same(&self, other: &AttrValue) -> bool {
        match (self, other) {
            (AttrValue::Ss(a), AttrValue::Ss(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (AttrValue::Ns(a), AttrValue::Ns(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (AttrValue::Bs(a), AttrValue::Bs(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (AttrValue::M(a), AttrValue::M(b)) => a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.same(w))),
            (AttrValue::L(a), AttrValue::L(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y)),
            _ => self == other,
        }
    }

    /// The order of two scalars of the same type (S by UTF-8 bytes, N numerically, B by
    /// unsigned bytes); None for other types or types that differ, which no ordering
    /// comparison matches.
    pub fn order(&self, other: &AttrValue) -> Option<Ordering> {
        match (self, other) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Whether this is a key type (`S`, `N`, `B`).
    pub fn is_scalar_key(&self) -> bool {
        matches!(self, AttrValue::S(_) | AttrValue::N(_) | AttrValue::B(_))
    }
}

fn check_set<T>(kind: &str, items: &[T], show: impl Fn(&T) -> String) -> Result<(), String> {
    if items.is_empty() {
        return Err(format!("One or more parameter values were invalid: An {kind} set  may not be empty"));
    }
    let shown: Vec<String> = items.iter().map(&show).collect();
    let mut sorted = shown.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != shown.len() {
        return Err(format!("One or more parameter values were invalid: Input collection [{}] contains duplicates.", shown.join(", ")));
    }
    Ok(())
}

/// An item's wire form.
pub fn item_to_json(item: &BTreeMap<String, AttrValue>) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
}

/// Reads an item (or a key, or `ExpressionAttributeValues`) from the wire.
pub fn item_from_json(value: Option<&Value>) -> Result<Item, String> {
    let mut out = Item::new();
    if let Some(map) = value.and_then(Value::as_object) {
        for (k, v) in map {
            out.insert(k.clone(), AttrValue::from_json(v)?);
        }
    }
    Ok(out)
}

/// An item's size: each attribute's name plus its value ("Item sizes and formats").
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

impl serde::Serialize for AttrValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for AttrValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        AttrValue::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// A DynamoDB number: `digits × 10^exp`, the digits without leading or trailing zeros (none
/// for zero), so that equal numbers have one representation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// The most significant digits a number may have.
const MAX_DIGITS: usize = 38;

impl Decimal {
    pub fn zero() -> Decimal {
        Decimal { negative: false, digits: Vec::new(), exp: 0 }
    }

    pub fn from_i64(n: i64) -> Decimal {
        Decimal::normalized(n < 0, n.unsigned_abs().to_string().bytes().map(|b| b - b'0').collect(), 0)
    }

    /// Parses a number as DynamoDB takes it (`-12.5`, `1e3`, `.5`), refusing what it refuses:
    /// anything not a decimal ("The parameter cannot be converted to a numeric value"), more
    /// than 38 significant digits, a magnitude outside 1E-130 … 9.99…E+125.
    pub fn parse(text: &str) -> Result<Decimal, String> {
        let bad = || format!("The parameter cannot be converted to a numeric value: {text}");
        let t = text.trim();
        let (negative, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let mut exp: i64 = match exponent {
            Some(e) => e.parse::<i64>().map_err(|_| bad())?,
            None => 0,
        };
        exp -= frac.len() as i64;
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let n = Decimal::normalized(negative, digits, exp);
        n.check()?;
        Ok(n)
    }

    fn normalized(negative: bool, mut digits: Vec<u8>, mut exp: i64) -> Decimal {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Decimal::zero();
        }
        Decimal { negative, digits, exp }
    }

    /// The limits of a stored number, in DynamoDB's words.
    pub fn check(&self) -> Result<(), String> {
        if self.digits.is_empty() {
            return Ok(());
        }
        if self.digits.len() > MAX_DIGITS {
            return Err("Attempting to store more than 38 significant digits in a Number".into());
        }
        let magnitude = self.digits.len() as i64 + self.exp - 1;
        if magnitude > 125 {
            return Err("Number overflow. Attempting to store a number with magnitude larger than supported range".into());
        }
        if magnitude < -130 {
            return Err("Number underflow. Attempting to store a number with magnitude smaller than supported range".into());
        }
        Ok(())
    }

    fn size(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }

    /// The sum, exact.
    pub fn add(&self, other: &Decimal) -> Decimal {
        if self.digits.is_empty() {
            return other.clone();
        }
        if other.digits.is_empty() {
            return self.clone();
        }
        let exp = self.exp.min(other.exp);
        let widen = |d: &Decimal| {
            let mut v = d.digits.clone();
            v.extend(std::iter::repeat_n(0, (d.exp - exp) as usize));
            v
        };
        let (a, b) = (widen(self), widen(other));
        if self.negative == other.negative {
            return Decimal::normalized(self.negative, add_digits(&a, &b), exp);
        }
        match cmp_digits(&a, &b) {
            Ordering::Equal => Decimal::zero(),
            Ordering::Greater => Decimal::normalized(self.negative, sub_digits(&a, &b), exp),
            Ordering::Less => Decimal::normalized(other.negative, sub_digits(&b, &a), exp),
        }
    }

    pub fn negate(&self) -> Decimal {
        if self.digits.is_empty() { self.clone() } else { Decimal { negative: !self.negative, ..self.clone() } }
    }

    /// The value as seconds (TTL attributes may carry fractions); None when far out of range.
    pub fn to_f64(&self) -> Option<f64> {
        self.to_string().parse().ok()
    }
}

impl std::fmt::Display for Decimal {
    /// Plain positional notation, as DynamoDB answers numbers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.digits.is_empty() {
            return f.write_str("0");
        }
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        if self.exp >= 0 {
            s.push_str(&digits);
            s.extend(std::iter::repeat_n('0', self.exp as usize));
        } else {
            let point = self.digits.len() as i64 + self.exp;
            if point > 0 {
                s.push_str(&digits[..point as usize]);
                s.push('.');
                s.push_str(&digits[point as usize..]);
            } else {
                s.push_str("0.");
                s.extend(std::iter::repeat_n('0', (-point) as usize));
                s.push_str(&digits);
            }
        }
        f.write_str(&s)
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = |d: &Decimal| {
            if d.digits.is_empty() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let magnitude = (self.digits.len() as i64 + self.exp).cmp(&(other.digits.len() as i64 + other.exp)).then_with(|| {
            // Same magnitude: the digits, left to right; a longer tail is larger.
            self.digits.cmp(&other.digits)
        });
        if sa < 0 { magnitude.reverse() } else { magnitude }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| d.iter().position(|x| *x != 0).map_or(0, |p| d.len() - p);
    strip(a).cmp(&strip(b)).then_with(|| a[a.len() - strip(a)..].cmp(&b[b.len() - strip(b)..]))
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let x = if i > 0 { a[i - 1] } else { 0 };
        let y = if j > 0 { b[j - 1] } else { 0 };
        let s = x + y + carry;
        out.push(s % 10);
        carry = s / 10;
        i = i.saturating_sub(1);
        j = j.saturating_sub(1);
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        let x = a[i - 1] as i8;
        let y = if j > 0 { b[j - 1] as i8 } else { 0 };
        let mut d = x - y - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
        i -= 1;
        j = j.saturating_sub(1);
    }
    out.reverse();
    out
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as binary values travel in AWS JSON.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

/// Standard base64, padding optional; None for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn numbers_are_canonical_and_compare_as_decimals() {
        assert_eq!(n("01.50").to_string(), "1.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0.00").to_string(), "0");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("-12.034e-2").to_string(), "-0.12034");
        assert!(n("9") < n("10"), "numbers compare numerically, not as strings");
        assert!(n("-10") < n("-9"));
        assert!(n("-1") < n("0") && n("0") < n("0.001"));
        assert!(n("1.25") > n("1.2"));
        assert_eq!(n("12345678901234567890123456789012345678").cmp(&n("12345678901234567890123456789012345677")), Ordering::Greater);
        assert_eq!(n("100").cmp(&n("1e2")), Ordering::Equal);
        assert!(Decimal::parse("abc").unwrap_err().contains("cannot be converted to a numeric value"));
        assert!(Decimal::parse("123456789012345678901234567890123456789").unwrap_err().contains("38 significant digits"));
        assert!(Decimal::parse("1e126").unwrap_err().contains("overflow"));
        assert!(Decimal::parse("1e-131").unwrap_err().contains("underflow"));
        assert!(Decimal::parse("").is_err() && Decimal::parse("1.2.3").is_err() && Decimal::parse("NaN").is_err());
    }

    #[test]
    fn numbers_add_exactly() {
        assert_eq!(n("0.1").add(&n("0.2")).to_string(), "0.3");
        assert_eq!(n("5").add(&n("-7")).to_string(), "-2");
        assert_eq!(n("-5").add(&n("5")).to_string(), "0");
        assert_eq!(n("99999999999999999999").add(&n("1")).to_string(), "100000000000000000000");
        assert_eq!(n("1.5").add(&n("-0.25")).to_string(), "1.25");
        assert_eq!(n(&i64::MAX.to_string()).to_string(), i64::MAX.to_string());
        assert_eq!(Decimal::from_i64(-42).to_string(), "-42");
    }

    #[test]
    fn values_read_and_write_the_wire_form() {
        let wire =
            json!({"M": {"a": {"L": [{"N": "1.0"}, {"NULL": true}, {"BOOL": false}]}, "b": {"B": "aGVsbG8="}, "s": {"SS": ["x", "y"]}}});
        let v = AttrValue::from_json(&wire).unwrap();
        assert_eq!(
            v.to_json(),
            json!({"M": {"a": {"L": [{"N": "1"}, {"NULL": true}, {"BOOL": false}]}, "b": {"B": "aGVsbG8="}, "s": {"SS": ["x", "y"]}}})
        );
        assert!(AttrValue::from_json(&json!({})).unwrap_err().contains("empty"));
        assert!(AttrValue::from_json(&json!({"S": "a", "N": "1"})).unwrap_err().contains("more than one"));
        assert!(AttrValue::from_json(&json!({"SS": []})).unwrap_err().contains("may not be empty"));
        assert!(AttrValue::from_json(&json!({"SS": ["a", "a"]})).unwrap_err().contains("contains duplicates"));
        assert!(AttrValue::from_json(&json!({"NS": ["1", "1.0"]})).unwrap_err().contains("contains duplicates"));
        assert!(AttrValue::from_json(&json!({"NULL": false})).is_err());
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("a$"), None);
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn sizes_follow_the_developer_guide() {
        let item: Item = [("pk".to_string(), AttrValue::S("abc".into())), ("n".to_string(), AttrValue::N(n("12345")))].into();
        assert_eq!(item_size(&item), 2 + 3 + 1 + 4);
        assert_eq!(AttrValue::L(vec![AttrValue::Null, AttrValue::Bool(true)]).size(), 3 + 2 + 2);
    }

    #[test]
    fn sets_are_equal_in_any_order_and_only_scalars_of_one_type_order() {
        assert!(AttrValue::Ss(vec!["a".into(), "b".into()]).same(&AttrValue::Ss(vec!["b".into(), "a".into()])));
        assert_eq!(AttrValue::S("a".into()).order(&AttrValue::N(n("1"))), None);
        assert_eq!(AttrValue::B(vec![0x80]).order(&AttrValue::B(vec![0x7f])), Some(Ordering::Greater));
    }
}
