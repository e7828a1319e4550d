//! Unknown keys: every one of them, each with its `line:column` and the nearest key the table does have
//! ("did you mean `hostname`?").
//!
//! `serde` stops at the first unknown field (`deny_unknown_fields`). When that happens the document is read again
//! as a plain value and given to the schema once more after each unknown key is taken out, until none is left.
//! So the schema stays the only list of known keys: serde's own message names the keys the table has
//! ("expected one of `a`, `b`"), and the nearest of them to the typo is the suggestion.

use serde_path_to_error::Segment;

use super::diagnose::{Failure, dotted};
use super::schema::Friendly;
use super::{Format, position};

/// A config with more typos than this is reported in part (the rest follow once these are fixed).
const MAX_REPORTED: usize = 20;

/// All unknown keys of `text`, in file order; empty if the first failure is something else.
pub(super) fn all_unknown(text: &str, format: Format) -> Vec<Failure> {
    let mut doc = match format {
        Format::Toml => match text.parse::<toml::Table>() {
            Ok(table) => Doc::Toml(toml::Value::Table(table)),
            Err(_) => return Vec::new(),
        },
        Format::Json => match serde_json::from_str(text) {
            Ok(value) => Doc::Json(value),
            Err(_) => return Vec::new(),
        },
    };
    let mut found = Vec::new();
    while found.len() < MAX_REPORTED {
        let failure = match &doc {
            Doc::Toml(v) => serde_path_to_error::deserialize::<_, Friendly>(v.clone())
                .err()
                .map(|e| (e.path().iter().cloned().collect::<Vec<_>>(), e.inner().message().to_string())),
            Doc::Json(v) => serde_path_to_error::deserialize::<_, Friendly>(v.clone())
                .err()
                .map(|e| (e.path().iter().cloned().collect::<Vec<_>>(), e.inner().to_string())),
        };
        let Some((path, message)) = failure else { break };
        if !message.starts_with("unknown field") || !doc.remove(&path) {
            break;
        }
        let field = dotted(&path);
        let parent = field.rfind(['.', '[']).map_or("", |i| &field[..i]).to_string();
        let position = position::find_field(text, format, &field);
        found.push(Failure { field: parent, message: with_suggestion(message.trim()), position });
    }
    // In file order: a JSON object comes back from `serde_json::Value` with its keys sorted.
    found.sort_by_key(|f| f.position.unwrap_or((usize::MAX, usize::MAX)));
    found
}

/// serde's "unknown field `hostnmae`, expected one of `hostname`, …" with "(did you mean `hostname`?)" after
/// the key, when one of the expected keys is near enough.
pub(super) fn with_suggestion(message: &str) -> String {
    let mut ticks = message.split('`').skip(1).step_by(2);
    let Some(typo) = ticks.next() else { return message.to_string() };
    let Some(best) = ticks.filter(|known| near(typo, known)).min_by_key(|known| distance(typo, known)) else {
        return message.to_string();
    };
    let after_key = format!("`{typo}`");
    message.replacen(&after_key, &format!("{after_key} (did you mean `{best}`?)"), 1)
}

/// Near enough to be the key meant: a few edits for its length, or one a prefix of the other
/// (`network` for `net`), or the same but for `-`/`_` and case.
fn near(typo: &str, known: &str) -> bool {
    let (a, b) = (normal(typo), normal(known));
    let short = a.len().min(b.len());
    a == b
        || distance(typo, known) <= (a.len().max(b.len()) / 3).max(1)
        || (short >= 3 && (a.starts_with(&b) || b.starts_with(&a)))
}

fn normal(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// Edits (insert, delete, substitute, swap two neighbours) from one key to the other, case and `-`/`_` ignored.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (normal(a).chars().collect(), normal(b).chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The document as a plain value, in its own syntax's value type.
enum Doc {
    Toml(toml::Value),
    Json(serde_json::Value),
}

impl Doc {
    /// Take out the key `path` ends with; false if the path does not lead to it.
    fn remove(&mut self, path: &[Segment]) -> bool {
        let Some((Segment::Map { key }, parents)) = path.split_last() else { return false };
        match self {
            Doc::Toml(value) => {
                let mut at = value;
                for segment in parents {
                    at = match (segment, at) {
                        (Segment::Map { key }, toml::Value::Table(t)) => match t.get_mut(key.as_str()) {
                            Some(v) => v,
                            None => return false,
                        },
                        (Segment::Seq { index }, toml::Value::Array(a)) => match a.get_mut(*index) {
                            Some(v) => v,
                            None => return false,
                        },
                        _ => return false,
                    };
                }
                match at {
                    toml::Value::Table(t) => t.remove(key.as_str()).is_some(),
                    _ => false,
                }
            }
            Doc::Json(value) => {
                let mut at = value;
                for segment in parents {
                    at = match (segment, at) {
                        (Segment::Map { key }, serde_json::Value::Object(o)) => match o.get_mut(key.as_str()) {
                            Some(v) => v,
                            None => return false,
                        },
                        (Segment::Seq { index }, serde_json::Value::Array(a)) => match a.get_mut(*index) {
                            Some(v) => v,
                            None => return false,
                        },
                        _ => return false,
                    };
                }
                match at {
                    serde_json::Value::Object(o) => o.remove(key.as_str()).is_some(),
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{ARGS, json_error, toml_error};

    #[test]
    fn a_typo_gets_the_nearest_key() {
        let m = "unknown field `hostnmae`, expected one of `hostname`, `domainname`, `network`";
        assert_eq!(
            with_suggestion(m),
            "unknown field `hostnmae` (did you mean `hostname`?), expected one of `hostname`, `domainname`, `network`"
        );
        assert!(with_suggestion("unknown field `network`, expected one of `pid`, `net`").contains("`net`?"));
        assert!(
            with_suggestion("unknown field `cpu-shares`, expected `cpu_shares` or `cpus`").contains("`cpu_shares`?")
        );
        assert_eq!(
            with_suggestion("unknown field `zzz`, expected `hostname`"),
            "unknown field `zzz`, expected `hostname`"
        );
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_position() {
        let msg = toml_error(&format!("hostnmae = \"x\"\n{ARGS}agrs = [\"sh\"]\n[resources]\nmemroy = \"1G\"\n"));
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(lines.len(), 3, "{msg}");
        assert!(
            lines[0].starts_with("bundle/configy.toml:1:1: unknown field `hostnmae` (did you mean `hostname`?)"),
            "{msg}"
        );
        assert!(
            lines[1].starts_with("bundle/configy.toml:4:1: process: unknown field `agrs` (did you mean `args`?)"),
            "{msg}"
        );
        assert!(
            lines[2].starts_with("bundle/configy.toml:6:1: resources: unknown field `memroy` (did you mean `memory`?)"),
            "{msg}"
        );
    }

    #[test]
    fn json_configs_get_every_unknown_key_too() {
        let msg = json_error(
            "{\"hostnmae\": \"x\",\n \"process\": {\"args\": [\"sh\"], \"ueser\": {}},\n \"mounts\": [{\"destination\": \"/d\", \"sorce\": \"/s\"}]}",
        );
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(lines.len(), 3, "{msg}");
        assert!(
            lines[0].starts_with("bundle/configy.json:1:2: unknown field `hostnmae` (did you mean `hostname`?)"),
            "{msg}"
        );
        assert!(
            lines[1].starts_with("bundle/configy.json:2:30: process: unknown field `ueser` (did you mean `user`?)"),
            "{msg}"
        );
        assert!(
            lines[2].starts_with("bundle/configy.json:3:35: mounts[0]: unknown field `sorce` (did you mean `source`?)"),
            "{msg}"
        );
    }
}
