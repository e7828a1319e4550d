//! Limits for untrusted code as people write them: the `[limits]` table of a friendly config, the
//! `containy.limits.*` annotations of an OCI config (what an engine or podman can pass through) and the flags of
//! `containy run`. All three read the same words — times with a unit (`1.5s`, `500ms`, `2m`; a bare number is
//! seconds), sizes as everywhere (`64M`), counts, `true`/`false` — into one [`Limits`], checked by
//! [`Limits::validate`] so every source gets the same error naming the same field.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::size::{Size, parse_size};
use crate::limits::{FIELDS, Limits};

/// The annotation prefix: `containy.limits.cpu_time = "2s"`.
pub const ANNOTATION_PREFIX: &str = "containy.limits.";

const TIME_HINT: &str = "use a number with a unit: 1.5s, 500ms, 2m, 1h (a bare number is seconds)";

/// `"1.5s"`, `"500ms"`, `"2m"`, `"1h"`, `"250us"`, `"3"` (seconds) -> a duration; never negative.
pub fn parse_time(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if t.starts_with('-') {
        return Err(format!("{text:?} is negative: a time limit must be positive"));
    }
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?} is not a time: {TIME_HINT}")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a time: {TIME_HINT}"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is too large a time"))
}

fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("{text:?} is negative: give a positive whole number"));
    }
    t.parse().map_err(|_| format!("{text:?} is not a whole number"))
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}

/// Set one field (`cpu_time`, or `cpu-time` as a flag spells it) from its text. The range is checked later,
/// by [`Limits::validate`], once every source has been read.
pub fn set_field(limits: &mut Limits, field: &str, text: &str) -> Result<(), String> {
    match field.replace('-', "_").as_str() {
        "cpu_time" => limits.cpu_time = Some(parse_time(text)?),
        "extra_time" => limits.extra_time = Some(parse_time(text)?),
        "wall_time" => limits.wall_time = Some(parse_time(text)?),
        "output" => limits.output = Some(parse_size(text)?),
        "output_kill" => limits.output_kill = parse_bool(text)?,
        "file_size" => limits.file_size = Some(parse_size(text)?),
        "disk" => limits.disk = Some(parse_size(text)?),
        "processes" => limits.processes = Some(parse_count(text)?),
        "open_files" => limits.open_files = Some(parse_count(text)?),
        other => return Err(format!("there is no limit {other:?}; the limits are {}", FIELDS.join(", "))),
    }
    Ok(())
}

/// The `containy.limits.*` annotations of an OCI config; an unknown name under the prefix is an error
/// (a misspelled limit must not be silently unlimited). Errors name the annotation.
pub fn from_annotations<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Limits, (String, String)> {
    let mut limits = Limits::default();
    for (key, value) in annotations {
        let Some(field) = key.strip_prefix(ANNOTATION_PREFIX) else { continue };
        set_field(&mut limits, field, value).map_err(|e| (key.clone(), e))?;
    }
    limits.validate().map_err(|e| (format!("{ANNOTATION_PREFIX}{}", e.field), e.message))?;
    Ok(limits)
}

/// The `[limits]` table. Each value is read while it is deserialized, so a bad unit points at its line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub cpu_time: Option<Time>,
    pub extra_time: Option<Time>,
    pub wall_time: Option<Time>,
    pub output: Option<Size>,
    #[serde(default)]
    pub output_kill: bool,
    pub file_size: Option<Size>,
    pub disk: Option<Size>,
    pub processes: Option<Count>,
    pub open_files: Option<Count>,
}

impl LimitsSection {
    pub(super) fn lower(self) -> Result<Limits, crate::limits::LimitError> {
        let limits = Limits {
            cpu_time: self.cpu_time.map(|t| t.0),
            extra_time: self.extra_time.map(|t| t.0),
            wall_time: self.wall_time.map(|t| t.0),
            output: self.output.map(|s| s.0),
            output_kill: self.output_kill,
            file_size: self.file_size.map(|s| s.0),
            disk: self.disk.map(|s| s.0),
            processes: self.processes.map(|c| c.0),
            open_files: self.open_files.map(|c| c.0),
        };
        limits.validate()?;
        Ok(limits)
    }
}

/// A time limit: a string with a unit, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Time(pub Duration);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a time: a number of seconds or a string such as \"1.5s\" or \"500ms\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                parse_time(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                parse_time(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                parse_time(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_time(v).map_err(E::custom)
            }
        }
        d.deserialize_any(TimeVisitor).map(Time)
    }
}

/// A count (processes, open files): a whole number, never negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = u64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a whole number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative: give a positive whole number")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                parse_count(v).map_err(E::custom)
            }
        }
        d.deserialize_any(CountVisitor).map(Count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{ARGS, check, toml_error, toml_plan};

    #[test]
    fn times_have_units() {
        assert_eq!(parse_time("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_time("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_time("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_time("-1s").unwrap_err().contains("negative"));
        for bad in ["1 fortnight", "", "s", "1.2.3s", "1e9999"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_are_set_from_text_as_flags_and_annotations_give_them() {
        let mut l = Limits::default();
        set_field(&mut l, "cpu-time", "2s").unwrap();
        set_field(&mut l, "output", "1K").unwrap();
        set_field(&mut l, "output_kill", "true").unwrap();
        set_field(&mut l, "processes", "16").unwrap();
        assert_eq!(l.cpu_time, Some(Duration::from_secs(2)));
        assert_eq!((l.output, l.output_kill, l.processes), (Some(1024), true, Some(16)));
        assert!(set_field(&mut l, "cpu_tiem", "1s").unwrap_err().contains("no limit \"cpu_tiem\""));
        assert!(set_field(&mut l, "processes", "-3").unwrap_err().contains("negative"));
        assert!(set_field(&mut l, "disk", "lots").unwrap_err().contains("is not a size"));
    }

    #[test]
    fn annotations_are_read_and_checked() {
        let map = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let ok = map(&[("containy.limits.wall_time", "3s"), ("other", "x")]);
        let l = from_annotations(ok.iter().map(|(k, v)| (k, v))).unwrap();
        assert_eq!(l.wall_time, Some(Duration::from_secs(3)));
        let bad = map(&[("containy.limits.wall_time", "1ms")]);
        let (key, e) = from_annotations(bad.iter().map(|(k, v)| (k, v))).unwrap_err();
        assert_eq!(key, "containy.limits.wall_time");
        assert!(e.contains("start-up"), "{e}");
        let typo = map(&[("containy.limits.cputime", "1s")]);
        assert_eq!(from_annotations(typo.iter().map(|(k, v)| (k, v))).unwrap_err().0, "containy.limits.cputime");
    }

    #[test]
    fn the_limits_table_lowers_and_errors_name_the_field() {
        let plan = toml_plan(&format!(
            "{ARGS}[limits]\ncpu_time = 1.5\nwall_time = \"3s\"\noutput = \"64K\"\noutput_kill = true\nprocesses = 32\n"
        ));
        assert_eq!(plan.limits.cpu_time, Some(Duration::from_millis(1500)));
        assert_eq!(plan.limits.output, Some(64 << 10));
        assert!(plan.limits.output_kill);
        assert_eq!(plan.limits.processes, Some(32));
        let error = |body: &str| toml_error(&format!("{ARGS}[limits]\n{body}\n"));
        check(&error("cpu_time = \"1 fortnight\""), "bundle/configy.toml:4:", &["limits.cpu_time", "not a time"]);
        check(&error("processes = -1"), "bundle/configy.toml:4:", &["limits.processes", "negative"]);
        check(&error("wall_time = \"1ms\""), "bundle/configy.toml:4", &["limits.wall_time", "start-up"]);
        check(&error("cpu = 1"), "bundle/configy.toml:4", &["cpu"]);
    }
}
