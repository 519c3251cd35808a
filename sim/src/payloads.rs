//! What the workload sends: the payload of the n-th message to a key (`--payloads`).
//!
//! Maelstrom's workload sends small integers, the per-key counter 1, 2, 3, … (spec:
//! kafka.md 3.4); that is `--payloads int`, the default. A node that re-encodes payloads
//! (through a parsed JSON value, say) passes such a workload untouched, so `--payloads
//! any` (our extension) sends JSON of every kind instead: strings with escapes and
//! non-ASCII text, nested objects and arrays with members out of order, 20-digit
//! integers, floats with exponents (`1e400`, `1.25E-3`), `1.0`, `-0.0`, `null` and
//! `true`. The checker then compares what polls return with what was sent, byte for byte
//! (`payload-changed`).
//!
//! Invariants:
//! - a payload is valid JSON, at most [`Payloads::len_max`] bytes;
//! - within one key, payloads are unique, even as parsed values, except that 20-digit
//!   integers share their rounding: Jepsen's checker identifies a message by its value
//!   within its key (spec: kafka.md 4.1), so every payload is derived from the per-key
//!   counter, and the few constant kinds (`null`, `true`, `-0.0`) are used once per key;
//! - the kinds rotate with the key, so every kind comes up early in some key even when
//!   keys retire after two writes.

use replicator_core::Key;

/// `--payloads`: what messages carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Payloads {
    /// Maelstrom's: the per-key counter as a JSON integer.
    #[default]
    Int,
    /// JSON of every kind, derived from the per-key counter (our extension).
    Any,
}

/// How many kinds `Payloads::Any` cycles through.
const KINDS: u64 = 9;

/// The bytes of the longest `--payloads any` kind, the string, besides its counter.
const ANY_BYTES_BESIDES_COUNTER: usize = 51;

impl Payloads {
    /// The flag's value for these payloads.
    pub fn name(self) -> &'static str {
        match self {
            Payloads::Int => "int",
            Payloads::Any => "any",
        }
    }

    /// Parses the flag's value; the error says what it takes (the command line adds the
    /// flag and the value).
    pub fn parse(text: &str) -> Result<Payloads, String> {
        match text {
            "int" => Ok(Payloads::Int),
            "any" => Ok(Payloads::Any),
            _ => Err("takes int or any".into()),
        }
    }

    /// The longest payload, in bytes, of a key's first `writes_max` messages: the size a
    /// poll's byte budget must allow per message.
    pub fn len_max(self, writes_max: u64) -> usize {
        let digits = writes_max.max(1).to_string().len();
        match self {
            Payloads::Int => digits,
            Payloads::Any => ANY_BYTES_BESIDES_COUNTER + digits,
        }
    }

    /// The JSON text of the `n`-th message (from 1) sent to `key`.
    pub fn text(self, key: &Key, n: u64) -> String {
        match self {
            Payloads::Int => n.to_string(),
            Payloads::Any => any(key, n),
        }
    }
}

/// The rotation of the kinds for `key`: its number for the workload's decimal keys.
fn rotation(key: &Key) -> u64 {
    let text = key.as_str();
    let n = text
        .parse::<u64>()
        .unwrap_or_else(|_| text.bytes().map(u64::from).sum());
    n % KINDS
}

/// The `n`-th `--payloads any` message of `key`.
fn any(key: &Key, n: u64) -> String {
    let first_round = n <= KINDS;
    match (n.saturating_sub(1) + rotation(key)) % KINDS {
        // The constants come once per key, in the first round of kinds; later rounds
        // carry the counter to stay unique.
        0 if first_round => "null".to_string(),
        0 => format!("[null,{n}]"),
        1 if first_round => "true".to_string(),
        1 => format!(r#"{{"t":true,"n":{n}}}"#),
        2 if first_round => "-0.0".to_string(),
        2 => format!("-{n}.0"),
        // Beyond any double: a node that parses it into one fails or turns it into
        // something else.
        3 => format!("{n}e400"),
        4 => format!("{n}.0"),
        // 20 digits: beyond both i64 and u64.
        5 => format!("9{n:019}"),
        // Escapes a re-encoder writes differently (\u00e9, \/, the surrogate pair) and
        // text that is not ASCII.
        6 => format!(r#""\u00e9t\u00e9 \"{n}\" \\ \/ \n\t é ☃ \ud83d\ude00""#),
        // Members out of order, nested, with an escape.
        7 => format!(r#"{{"n":{n},"b":[1,[2,{{"c":"\u0041"}}]],"a":{{}}}}"#),
        _ => format!("{n}.25E-3"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replicator_core::Payload;
    use std::collections::BTreeSet;

    #[test]
    fn int_payloads_are_maelstroms_counter() {
        let key = Key::new("7");
        let texts: Vec<String> = (1..=3).map(|n| Payloads::Int.text(&key, n)).collect();
        assert_eq!(texts, ["1", "2", "3"]);
        assert_eq!(Payloads::Int.len_max(16), 2);
        // The string kind is the longest: exactly the bound for some counter.
        let key = Key::new("3");
        let longest = (1..=9).map(|n| Payloads::Any.text(&key, n).len()).max();
        assert_eq!(longest, Some(Payloads::Any.len_max(9)));
    }

    #[test]
    fn any_payloads_are_valid_unique_bounded_json_of_every_kind() {
        let mut kinds_early: BTreeSet<String> = BTreeSet::new();
        for k in (0..40).map(|k| k.to_string()).chain(["x".to_string()]) {
            let key = Key::new(&k);
            let mut texts = BTreeSet::new();
            let mut values = BTreeSet::new();
            for n in (1..=300).chain([999_999_999]) {
                let text = Payloads::Any.text(&key, n);
                assert!(Payload::parse(&text).is_ok(), "{text} is not JSON");
                assert!(text.len() <= Payloads::Any.len_max(n), "{text}");
                assert!(texts.insert(text.clone()), "{text} twice in key {k}");
                // Unique as parsed values too, where serde_json can hold them without
                // rounding.
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
                    && !text.starts_with('9')
                {
                    assert!(values.insert(value.to_string()), "{text} in key {k}");
                }
                if n <= 2 {
                    kinds_early.insert(shape(&text));
                }
            }
        }
        // Even keys that retire after two writes see every kind, across keys.
        let all: BTreeSet<&str> = [
            "null", "true", "-0.0", "e400", ".0", "20-digit", "string", "object", "E-3",
        ]
        .into();
        let got: BTreeSet<&str> = kinds_early.iter().map(String::as_str).collect();
        assert_eq!(got, all);
    }

    /// A kind's name, from its text.
    fn shape(text: &str) -> String {
        let name = match text {
            "null" | "true" | "-0.0" => text,
            t if t.ends_with("e400") => "e400",
            t if t.ends_with("E-3") => "E-3",
            t if t.ends_with(".0") => ".0",
            t if t.len() == 20 && t.starts_with('9') => "20-digit",
            t if t.starts_with('"') => "string",
            t if t.starts_with('{') => "object",
            other => panic!("unknown kind {other}"),
        };
        name.to_string()
    }

    #[test]
    fn the_flag_round_trips_and_refuses_others() {
        for p in [Payloads::Int, Payloads::Any] {
            assert_eq!(Payloads::parse(p.name()), Ok(p));
        }
        assert!(Payloads::parse("json").unwrap_err().contains("int or any"));
    }
}
