//! Arguments of a trace line: positional tokens, `key=value` pairs, and the value syntaxes
//! (numbers, gfp and flag names, protections, slots, addresses). Every failure is a
//! [`ParseError`] for the line at hand; nothing here panics.

use super::{ParseError, FLAG_NAMES, GFP_NAMES};
use crate::ops::{Addr, Prot, GFP_KERNEL};

pub(super) type Result<T> = std::result::Result<T, ParseError>;

pub(super) fn err<T>(line: usize, message: impl Into<String>) -> Result<T> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

// ---- arguments -----------------------------------------------------------------------------

/// An op's or header line's arguments: positional tokens and `key=value` pairs.
pub(super) struct Args<'a> {
    line: usize,
    what: &'a str,
    pos: Vec<&'a str>,
    keys: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    /// Split and check: unknown and duplicate keys are errors here.
    pub(super) fn new(
        line: usize,
        what: &'a str,
        tokens: &[&'a str],
        allowed: &[&str],
    ) -> Result<Self> {
        let mut a = Args {
            line,
            what,
            pos: Vec::new(),
            keys: Vec::new(),
        };
        for &t in tokens {
            match t.split_once('=') {
                None => a.pos.push(t),
                Some((k, v)) => {
                    if !allowed.contains(&k) {
                        let hint = if allowed.is_empty() {
                            "it takes no keys".to_string()
                        } else {
                            format!("keys: {}", allowed.join(", "))
                        };
                        return err(line, format!("unknown key `{k}` for `{what}` ({hint})"));
                    }
                    if a.keys.iter().any(|(k2, _)| *k2 == k) {
                        return err(line, format!("duplicate key `{k}` for `{what}`"));
                    }
                    if v.is_empty() {
                        return err(line, format!("empty value for `{k}=` in `{what}`"));
                    }
                    a.keys.push((k, v));
                }
            }
        }
        Ok(a)
    }

    /// Exactly `N` positional arguments.
    pub(super) fn pos<const N: usize>(&self, names: [&str; N]) -> Result<[&'a str; N]> {
        if self.pos.len() < N {
            return err(
                self.line,
                format!(
                    "`{}` needs {} (missing {})",
                    self.what,
                    names.join(" "),
                    names[self.pos.len()..].join(" ")
                ),
            );
        }
        if let Some(extra) = self.pos.get(N) {
            return err(
                self.line,
                format!("unexpected argument `{extra}` for `{}`", self.what),
            );
        }
        let mut out = [""; N];
        out.copy_from_slice(&self.pos[..N]);
        Ok(out)
    }

    pub(super) fn opt(&self, key: &str) -> Option<&'a str> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    pub(super) fn key(&self, key: &str) -> Result<&'a str> {
        self.opt(key).map_or_else(
            || {
                err(
                    self.line,
                    format!("missing key `{key}=` for `{}`", self.what),
                )
            },
            Ok,
        )
    }
}

// ---- values --------------------------------------------------------------------------------

/// `0x` hex or decimal, `_` separators allowed.
pub(super) fn number(ln: usize, s: &str, what: &str) -> Result<u64> {
    let digits = s.replace('_', "");
    let (digits, radix) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => (h.to_string(), 16),
        None => (digits, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return err(
            ln,
            format!("bad number `{s}` for {what} (0x hex or decimal)"),
        );
    }
    u64::from_str_radix(&digits, radix).or_else(|_| {
        err(
            ln,
            format!("number `{s}` for {what} does not fit in 64 bits"),
        )
    })
}

/// A number with an optional `K`/`M`/`G` (KiB-unit) suffix.
pub(super) fn size_number(ln: usize, s: &str, what: &str) -> Result<u64> {
    let (body, mult) = match s.char_indices().last() {
        Some((i, 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'M')) => (&s[..i], 1 << 20),
        Some((i, 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    number(ln, body, what)?.checked_mul(mult).map_or_else(
        || err(ln, format!("`{s}` for {what} does not fit in 64 bits")),
        Ok,
    )
}

pub(super) fn narrow<T: TryFrom<u64>>(ln: usize, v: u64, what: &str) -> Result<T> {
    T::try_from(v).or_else(|_| err(ln, format!("{what} {v} is too large")))
}

pub(super) fn span_pair(ln: usize, s: &str, what: &str) -> Result<(u64, u64)> {
    match s.split_once('-') {
        Some((a, b)) => Ok((number(ln, a, what)?, number(ln, b, what)?)),
        None => err(ln, format!("{what}: expected START-END, found `{s}`")),
    }
}

pub(super) fn gfp(ln: usize, s: &str) -> Result<u64> {
    s.split('|').try_fold(0, |acc, part| {
        let bit = if part == "GFP_KERNEL" {
            GFP_KERNEL
        } else if let Some((_, b)) = GFP_NAMES.iter().find(|(n, _)| *n == part) {
            *b
        } else if part.starts_with(|c: char| c.is_ascii_digit()) {
            number(ln, part, "gfp")?
        } else {
            let names: Vec<_> = GFP_NAMES.iter().map(|(n, _)| *n).collect();
            return err(
                ln,
                format!(
                    "unknown gfp flag `{part}` (GFP_KERNEL, {})",
                    names.join(", ")
                ),
            );
        };
        Ok(acc | bit)
    })
}

pub(super) fn flags(ln: usize, s: &str, what: &str) -> Result<u64> {
    s.split('|').try_fold(0, |acc, part| {
        let bit = if let Some((_, b)) = FLAG_NAMES.iter().find(|(n, _)| *n == part) {
            *b
        } else if part.starts_with(|c: char| c.is_ascii_digit()) {
            number(ln, part, what)?
        } else {
            let names: Vec<_> = FLAG_NAMES.iter().map(|(n, _)| *n).collect();
            return err(
                ln,
                format!(
                    "unknown flag `{part}` in {what} (0 or {})",
                    names.join(", ")
                ),
            );
        };
        Ok(acc | bit)
    })
}

pub(super) fn prot(ln: usize, s: &str) -> Result<Prot> {
    Prot::ALL.into_iter().find(|p| p.name() == s).map_or_else(
        || {
            let names: Vec<_> = Prot::ALL.iter().map(|p| p.name()).collect();
            err(
                ln,
                format!("unknown prot `{s}` (one of {})", names.join(", ")),
            )
        },
        Ok,
    )
}

pub(super) fn node(ln: usize, s: &str) -> Result<Option<u32>> {
    if s == "none" {
        return Ok(None);
    }
    narrow(ln, number(ln, s, "node")?, "node").map(Some)
}

/// `prefix#N`, with `+OFF` if `offset_ok`.
pub(super) fn slot(ln: usize, s: &str, prefix: &str, offset_ok: bool) -> Result<(u32, u64)> {
    let Some(body) = s.strip_prefix(prefix).and_then(|b| b.strip_prefix('#')) else {
        let plus = if offset_ok { "[+OFF]" } else { "" };
        return err(ln, format!("expected `{prefix}#N{plus}`, found `{s}`"));
    };
    let (n, off) = match body.split_once('+') {
        Some((_, _)) if !offset_ok => {
            return err(
                ln,
                format!("`{s}`: no offset allowed here, only `{prefix}#N`"),
            );
        }
        Some((n, off)) => (n, number(ln, off, "offset")?),
        None => (body, 0),
    };
    Ok((narrow(ln, number(ln, n, "slot")?, "slot")?, off))
}

pub(super) fn addr(ln: usize, s: &str) -> Result<Addr> {
    if s == "null" {
        Ok(Addr::Null)
    } else if s.starts_with("area#") {
        slot(ln, s, "area", true).map(|(slot, offset)| Addr::Area { slot, offset })
    } else if s.starts_with("stale#") {
        slot(ln, s, "stale", true).map(|(slot, offset)| Addr::Stale { slot, offset })
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        number(ln, s, "address").map(Addr::Abs)
    } else {
        err(
            ln,
            format!("bad address `{s}` (null, a number, area#N[+OFF] or stale#N[+OFF])"),
        )
    }
}

pub(super) fn pages(ln: usize, s: &str) -> Result<Vec<u32>> {
    if s == "-" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| slot(ln, p, "page", false).map(|(n, _)| n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(1, "0x1f", "n"), Ok(31));
        assert_eq!(number(1, "0XFF", "n"), Ok(255));
        assert_eq!(number(1, "1_000", "n"), Ok(1000));
        assert_eq!(
            number(1, "0xffff_c900_0000_0000", "n"),
            Ok(0xffff_c900_0000_0000)
        );
        assert_eq!(number(1, "18446744073709551615", "n"), Ok(u64::MAX));
        for bad in ["", "+5", "-1", "0x", "0x+1", "1e3", "0b101", "12K", "٣"] {
            assert!(number(1, bad, "n").is_err(), "{bad}");
        }
        assert!(number(1, "18446744073709551616", "n").is_err());
        assert_eq!(size_number(1, "4K", "s"), Ok(4096));
        assert_eq!(size_number(1, "0x2M", "s"), Ok(2 << 20));
        assert_eq!(size_number(1, "1G", "s"), Ok(1 << 30));
        assert!(size_number(1, "K", "s").is_err());
        assert!(size_number(1, "4k", "s").is_err());
        assert!(size_number(1, "17179869184G", "s").is_err());
    }

    #[test]
    fn values() {
        assert_eq!(
            gfp(1, "GFP_KERNEL|__GFP_NOFAIL"),
            Ok(GFP_KERNEL | crate::ops::GFP_NOFAIL)
        );
        assert_eq!(
            gfp(1, "0x6000c0|__GFP_ZERO"),
            Ok(GFP_KERNEL | crate::ops::GFP_ZERO)
        );
        assert_eq!(flags(1, "0", "f"), Ok(0));
        assert_eq!(flags(1, "VM_MAP|VM_NO_GUARD", "f"), Ok(0x44));
        assert!(flags(1, "VM_MAP|", "f").is_err());
        assert_eq!(addr(1, "null"), Ok(Addr::Null));
        assert_eq!(addr(1, "0"), Ok(Addr::Abs(0)));
        assert_eq!(
            addr(1, "stale#3+0x10"),
            Ok(Addr::Stale {
                slot: 3,
                offset: 16
            })
        );
        assert!(addr(1, "area#").is_err());
        assert!(addr(1, "area#1+").is_err());
        assert_eq!(pages(1, "page#1,page#0"), Ok(vec![1, 0]));
        assert!(pages(1, "").is_err());
        assert_eq!(node(1, "none"), Ok(None));
        assert!(node(1, "4294967296").is_err());
    }
}
