//! Sizes as people write them (`512M`, `1G`, `64MiB`, `1048576`) turned into bytes.
//!
//! cgroup files (`memory.max`, `memory.limit_in_bytes`) and tmpfs' `size=` take plain bytes; the config takes
//! what a person types. Every suffix is a power of 1024, as the kernel and docker count memory, so `1G` and `1GiB`
//! are the same. Only digits reach the kernel: a size can never smuggle a second mount option into `data`.

/// What the user is told whenever a size cannot be read.
/// It lists every form [`parse_size`] takes, and no other.
const SIZE_HINT: &str =
    "use a number of bytes or a number with K, M, G or T, powers of 1024 (512M; 512MB and 512MiB mean the same)";

/// `"512M"`, `"1G"`, `"64MiB"`, `"1048576"`, `"100k"` -> bytes. K/M/G/T are powers of 1024; `B`, `KB`, `KiB`, … are
/// accepted too; case does not matter.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let not_a_size = || format!("{s:?} is not a size: {SIZE_HINT}");
    if digits.is_empty() {
        return Err(not_a_size());
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(not_a_size()),
    };
    let too_large = || format!("{s:?} is too large: a size must fit in 64 bits (at most 16777215T)");
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    number.checked_mul(1u64 << shift).ok_or_else(too_large)
}

/// A size given as an integer: bytes, never negative.
fn size_from_integer(n: i64) -> Result<u64, String> {
    u64::try_from(n).map_err(|_| format!("{n} is negative: {SIZE_HINT}"))
}

/// `serde` glue: a size given as a string or as a number of bytes.
struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a size: a number of bytes or a string such as \"512M\"")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        size_from_integer(v).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

/// A size in bytes, read from a string or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size(pub u64);

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor).map(Size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hint and the parser agree: each form the hint shows is read, to the same number.
    #[test]
    fn every_form_the_hint_names_is_accepted() {
        for form in ["512M", "512MB", "512MiB"] {
            assert!(SIZE_HINT.contains(form), "{form}");
            assert_eq!(parse_size(form), Ok(512 << 20), "{form}");
        }
        for unit in ["K", "M", "G", "T"] {
            assert_eq!(parse_size(&format!("1{unit}B")), parse_size(&format!("1{unit}")));
        }
        assert!(parse_size("512P").unwrap_err().contains("K, M, G or T"));
    }

    #[test]
    fn plain_bytes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(" 42 "), Ok(42));
        assert_eq!(parse_size("42B"), Ok(42));
    }

    #[test]
    fn suffixes_are_powers_of_1024_in_any_case() {
        assert_eq!(parse_size("100k"), Ok(100 * 1024));
        assert_eq!(parse_size("100K"), Ok(100 * 1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("3 KiB"), Ok(3 * 1024));
    }

    #[test]
    fn garbage_is_refused_with_the_hint() {
        for bad in ["12Q", "", "M", "-5M", "1.5G", "5 M B", "1G,uid=0", "0x10"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("is not a size"), "{bad}: {err}");
            assert!(err.contains("K, M, G or T"), "{bad}: {err}");
        }
    }

    #[test]
    fn overflow_is_refused() {
        assert!(parse_size("99999999999T").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999").unwrap_err().contains("too large"));
        assert_eq!(parse_size("16383T"), Ok(16383u64 << 40));
    }
}
