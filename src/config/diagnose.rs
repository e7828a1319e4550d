//! Turning a `serde` error into a message a person can act on: file, `line:column`, the dotted field, and what is
//! allowed there.
//!
//! `serde_path_to_error` records the path to the failing value; TOML reports a byte span and JSON a line and column.
//! `serde`'s own wording ("expected u32", "expected struct ProcessSection") talks about Rust types, so it is rewritten
//! into the config's words and followed by a hint for the field. Messages written by our own validators already say
//! what is allowed and are kept as they are.

use std::path::Path;

use serde_path_to_error::{Path as FieldPath, Segment};

use super::{ConfigError, Format, position};

/// A failed deserialization, not yet tied to a file name.
pub(super) struct Failure {
    pub field: String,
    pub message: String,
    pub position: Option<(usize, usize)>,
}

impl Failure {
    pub(super) fn into_error(self, file: &Path) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            line: self.position.map(|(line, _)| line),
            column: self.position.map(|(_, column)| column),
            field: self.field,
            message: self.message,
        }
    }
}

pub(super) fn from_toml(text: &str, err: serde_path_to_error::Error<toml::de::Error>) -> Failure {
    let field = field_of(err.path());
    // `toml` gives an array element that fails its own check the span of the whole array; find the element.
    let element = match field.ends_with(']') {
        true => position::find_field(text, Format::Toml, &field),
        false => None,
    };
    let position = element.or_else(|| err.inner().span().and_then(|span| position::line_column(text, span.start)));
    let message = err.inner().message().trim().to_string();
    reword(field, message, position, Format::Toml)
}

pub(super) fn from_toml_syntax(text: &str, first: &toml::de::Error) -> Failure {
    // `toml` reports errors in the order it recovers from them, not in file order: an unterminated string is
    // reported after the "missing comma" it causes on the next line. The earliest in the file is the cause.
    let (_, all) = toml::de::DeTable::parse_recoverable(text);
    let err = all.iter().filter(|e| e.span().is_some()).min_by_key(|e| e.span().map(|s| s.start)).unwrap_or(first);
    let mut offset = err.span().map(|span| span.start);
    if err.message().starts_with("missing comma") {
        // It points at the next element, often on the next line; the comma belongs right after the previous one.
        offset = offset.and_then(|o| text.get(..o)).map(|before| before.trim_end().len());
    }
    let position = offset.and_then(|o| position::line_column(text, o));
    Failure { field: String::new(), message: err.message().trim().to_string(), position }
}

/// `path` is `None` for errors found outside any value (trailing characters after the object).
pub(super) fn from_json(path: Option<&FieldPath>, inner: &serde_json::Error) -> Failure {
    let position = (inner.line() > 0).then(|| (inner.line(), inner.column()));
    // serde_json appends " at line L column C" to its message; the position is reported separately.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    reword(path.map(field_of).unwrap_or_default(), message, position, Format::Json)
}

/// `process.rlimits[0].soft`: keys joined by dots, indices in brackets (0-based).
fn field_of(path: &FieldPath) -> String {
    dotted(&path.iter().cloned().collect::<Vec<_>>())
}

/// The same for a path as a list of segments (`unknown.rs` keeps them so).
pub(super) fn dotted(path: &[Segment]) -> String {
    let mut field = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    field
}

fn parent(field: &str) -> &str {
    match field.rfind(['.', '[']) {
        Some(i) => &field[..i],
        None => "",
    }
}

fn reword(mut field: String, mut message: String, mut position: Option<(usize, usize)>, format: Format) -> Failure {
    if message.starts_with("unknown field") {
        // The path ends with the misspelt key itself; the error is about the table that does not have it.
        field = parent(&field).to_string();
    } else if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        field = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
        // Positions point at the whole enclosing table, which is the start of the file for top-level fields.
        position = None;
        if let Some(hint) = required_hint(&field, format) {
            message = format!("{message}: {hint}");
        }
    } else if ["invalid type:", "invalid value:", "invalid length"].iter().any(|p| message.starts_with(p)) {
        message = plain_words(&message, format);
        if let Some(hint) = hint(&field) {
            message = format!("{message} ({hint})");
        }
    }
    Failure { field, message, position }
}

/// Replace `serde`'s Rust type names after "expected" with what the user writes.
fn plain_words(message: &str, format: Format) -> String {
    let Some((head, expected)) = message.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let table = match format {
        Format::Toml => "a table",
        Format::Json => "an object",
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a boolean" => "true or false",
        e if e.starts_with("struct ") || e == "a map" => table,
        e => e,
    };
    format!("{head}, expected {expected}")
}

/// What a field holds, for type errors. Indices are dropped: `mounts[3].source` looks up `mounts[].source`.
fn hint(field: &str) -> Option<&'static str> {
    let mut key = String::with_capacity(field.len());
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                key.push_str("[]");
            }
            ']' => in_index = false,
            c if !in_index => key.push(c),
            _ => {}
        }
    }
    Some(match key.as_str() {
        "hostname" | "domainname" => "a name such as \"containy\"",
        "process.args" => "a list of strings, e.g. [\"/bin/sh\", \"-c\", \"echo hi\"]",
        "process.args[]" => "each argument is a string",
        "process.env" => "a list of \"KEY=VALUE\" strings",
        "process.env[]" => "a \"KEY=VALUE\" string such as \"TERM=xterm\"",
        "process.cwd" => "an absolute path inside the container, e.g. \"/\"",
        "process.user.uid" => "a uid, 0..=4294967295",
        "process.user.gid" => "a gid, 0..=4294967295",
        "process.user.additional_gids" | "process.user.additional_gids[]" => "a list of gids, 0..=4294967295",
        "process.capabilities.add"
        | "process.capabilities.drop"
        | "process.capabilities.add[]"
        | "process.capabilities.drop[]" => "a list of capability names such as \"CAP_NET_ADMIN\", or \"ALL\"",
        "process.rlimits" | "process.rlimits[]" => "a list of rlimits, each with type, soft and hard",
        "process.rlimits[].type" => "an rlimit name such as \"RLIMIT_NOFILE\" or \"nofile\"",
        "process.seccomp" => "\"default\", \"unconfined\" or { profile = \"profile.json\" }",
        "process.seccomp.profile" => "a Docker or OCI seccomp profile, relative to the bundle or absolute",
        "user_namespace.uid" => "the first host uid of the range, 0..=4294967295",
        "user_namespace.gid" => "the first host gid of the range, 0..=4294967295",
        "user_namespace.count" => "how many ids to map, 1..=4294967295",
        "rootfs.path" => "a directory, relative to the bundle or absolute",
        "rootfs.tarball" => "a .tar or .tar.gz file, relative to the bundle or absolute",
        "rootfs.editable" | "rootfs.editable[]" => "a list of top-level directory names such as [\"etc\", \"var\"]",
        "mounts" | "mounts[]" => "a list of mounts, each with a destination",
        "mounts[].source" => "a host path, relative to the bundle or absolute",
        "mounts[].destination" => "an absolute path inside the container, e.g. \"/data\"",
        "resources.cpu_shares" => "2..=262144; 1024 is one CPU's normal share",
        "resources.swappiness" => "0..=100; 60 is the kernel's default",
        "resources.io_weight" => "10..=1000; 500 is the default share",
        "resources.cpus" | "resources.mems" => "a list of numbers and ranges such as \"0-1,3\"",
        "resources.memory_reservation" => "a size such as \"256M\"",
        _ => return None,
    })
}

/// What to write when a required key is missing, in the file's own syntax.
fn required_hint(field: &str, format: Format) -> Option<String> {
    let example = |key: &str, value: &str| match format {
        Format::Toml => format!("{key} = {value}"),
        Format::Json => format!("\"{key}\": {value}"),
    };
    Some(match field {
        "process" => match format {
            Format::Toml => "the command to run is required: add a [process] table with args = [\"/bin/sh\"]".into(),
            Format::Json => "the command to run is required: add \"process\": {\"args\": [\"/bin/sh\"]}".into(),
        },
        "process.args" => format!("the command to run is required, e.g. {}", example("args", "[\"/bin/sh\"]")),
        "user_namespace.uid" => {
            format!("the first host uid of the mapped range is required, e.g. {}", example("uid", "100000"))
        }
        f if f.starts_with("mounts[") && f.ends_with(".destination") => format!(
            "every mount needs the absolute path it appears at inside the container, e.g. {}",
            example("destination", "\"/data\"")
        ),
        f if f.starts_with("process.rlimits[") => format!(
            "each rlimit needs type, soft and hard, e.g. {}, {}, {}",
            example("type", "\"RLIMIT_NOFILE\""),
            example("soft", "1024"),
            example("hard", "\"unlimited\"")
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::test_support::{ARGS, check, json_error, toml_error};
    use crate::config::{Format, parse_str};

    #[test]
    fn unknown_top_level_key() {
        let msg = toml_error(&format!("hostnmae = \"x\"\n{ARGS}"));
        check(
            &msg,
            "bundle/configy.toml:1:1: unknown field `hostnmae`",
            &["expected one of `hostname`", "`resources`"],
        );
    }

    #[test]
    fn unknown_nested_key() {
        let msg = toml_error(&format!("{ARGS}[process.user]\nuid = 1\nname = \"bob\"\n"));
        check(&msg, "bundle/configy.toml:5:1: process.user: unknown field `name`", &["`uid`", "`additional_gids`"]);
    }

    #[test]
    fn unknown_namespace() {
        let msg = toml_error(&format!("{ARGS}[namespaces]\nnetwork = true\n"));
        check(&msg, "bundle/configy.toml:4:1: namespaces: unknown field `network`", &["`net`", "`cgroup`"]);
    }

    #[test]
    fn wrong_type_names_what_is_allowed() {
        let msg = toml_error(&format!("{ARGS}\n[process.user]\nuid = \"root\"\n"));
        assert_eq!(
            msg,
            "bundle/configy.toml:5:7: process.user.uid: invalid type: string \"root\", expected a number (a uid, 0..=4294967295)"
        );
        let msg = toml_error("[process]\nargs = \"/bin/sh\"\n");
        check(
            &msg,
            "bundle/configy.toml:2:8: process.args: invalid type: string",
            &["expected an array", "[\"/bin/sh\""],
        );
        let msg = toml_error("process = 5\n");
        check(&msg, "bundle/configy.toml:1:11: process: invalid type: integer `5`", &["expected a table"]);
        let msg = json_error(r#"{"process": 5}"#);
        check(&msg, "bundle/configy.json:1:13: process: invalid type: integer `5`", &["expected an object"]);
    }

    #[test]
    fn invalid_size() {
        let msg = toml_error(&format!("{ARGS}[resources]\nmemory = \"12Q\"\n"));
        assert_eq!(
            msg,
            "bundle/configy.toml:4:10: resources.memory: \"12Q\" is not a size: use a number of bytes or a number \
             with K, M, G or T, powers of 1024 (512M; 512MB and 512MiB mean the same)"
        );
        let msg = toml_error(&format!("{ARGS}[resources]\nmemory = 1000\n"));
        check(&msg, "bundle/configy.toml:4:10: resources.memory: 1000 bytes", &["at least 1M"]);
        let msg = toml_error(&format!("{ARGS}[[mounts]]\ntype = \"tmpfs\"\ndestination = \"/t\"\nsize = -1\n"));
        check(&msg, "bundle/configy.toml:6:8: mounts[0].size: -1 is negative", &["K, M, G or T"]);
    }

    #[test]
    fn negative_pids() {
        let msg = toml_error(&format!("{ARGS}[resources]\npids = -5\n"));
        check(&msg, "bundle/configy.toml:4:8: resources.pids: -5 is not a process limit", &["at least 1", "\"max\""]);
        let msg = toml_error(&format!("{ARGS}[resources]\npids = \"lots\"\n"));
        check(&msg, "bundle/configy.toml:4:8: resources.pids: \"lots\"", &["\"max\""]);
    }

    #[test]
    fn out_of_range_numbers() {
        let msg = toml_error(&format!("{ARGS}[resources]\ncpu = 0\n"));
        check(&msg, "bundle/configy.toml:4:7: resources.cpu: 0 CPUs is out of range", &["0.01 to 1024"]);
        let msg = toml_error(&format!("{ARGS}[resources]\ncpu_shares = 1\n"));
        check(&msg, "bundle/configy.toml:4:14: resources.cpu_shares: 1 is out of range", &["2..=262144"]);
        let msg = toml_error("[process]\nargs = [\"sh\"]\numask = 0o1777\n");
        check(&msg, "bundle/configy.toml:3:9: process.umask: 1023 is out of range", &["0..=0o777"]);
        let msg = toml_error("[process]\nargs = [\"sh\"]\nuser = { uid = -1 }\n");
        check(&msg, "bundle/configy.toml:3:16: process.user.uid: invalid value: integer `-1`", &["0..=4294967295"]);
    }

    #[test]
    fn empty_args() {
        let msg = toml_error("[process]\nargs = []\n");
        check(&msg, "bundle/configy.toml:2:8: process.args: the command is empty", &["args = [\"/bin/sh\"]"]);
    }

    #[test]
    fn nul_in_args_or_env() {
        let msg = toml_error("[process]\nargs = [\"sh\", \"a\\u0000b\"]\n");
        check(&msg, "bundle/configy.toml:2:15: process.args[1]: \"a\\0b\" contains a NUL byte", &[]);
        let msg = toml_error("[process]\nargs = [\"sh\"]\nenv = [\"PATH=/bin\", \"FOO\"]\n");
        check(&msg, "bundle/configy.toml:3:21: process.env[1]: \"FOO\" is not KEY=VALUE", &["\"NAME=value\""]);
    }

    #[test]
    fn missing_args() {
        let msg = toml_error("[process]\ncwd = \"/\"\n");
        assert_eq!(
            msg,
            "bundle/configy.toml: process.args: missing field `args`: the command to run is required, e.g. args = [\"/bin/sh\"]"
        );
        let msg = toml_error("hostname = \"x\"\n");
        check(&msg, "bundle/configy.toml: process: missing field `process`", &["[process]", "args"]);
        let msg = json_error(r#"{"process": {"cwd": "/"}}"#);
        check(&msg, "bundle/configy.json: process.args: missing field `args`", &[r#""args": ["/bin/sh"]"#]);
    }

    #[test]
    fn relative_cwd() {
        let msg = toml_error("[process]\nargs = [\"sh\"]\ncwd = \"tmp\"\n");
        check(&msg, "bundle/configy.toml:3:7: process.cwd: \"tmp\" is not an absolute path", &["starts with '/'"]);
    }

    #[test]
    fn bad_mount_destinations() {
        let mounts = "[[mounts]]\nsource = \"a\"\ndestination = \"/a\"\n[[mounts]]\nsource = \"b\"\n";
        let msg = toml_error(&format!("{ARGS}{mounts}destination = \"data\"\n"));
        check(&msg, "bundle/configy.toml:8:15: mounts[1].destination: \"data\" is not an absolute path", &["'/'"]);
        let msg = toml_error(&format!("{ARGS}{mounts}destination = \"/data/../../etc\"\n"));
        check(
            &msg,
            "bundle/configy.toml:8:15: mounts[1].destination: \"/data/../../etc\" contains \"..\"",
            &["without"],
        );
        let msg = toml_error(&format!("{ARGS}{mounts}"));
        check(
            &msg,
            "bundle/configy.toml: mounts[1].destination: missing field `destination`",
            &["destination = \"/data\""],
        );
    }

    #[test]
    fn bad_network_value() {
        let msg = toml_error(&format!("network = \"wifi\"\n{ARGS}"));
        check(
            &msg,
            "bundle/configy.toml:1:11: network: unknown network mode \"wifi\"",
            &["\"bridge\"", "container:ID"],
        );
    }

    #[test]
    fn bad_namespace_value() {
        let msg = toml_error(&format!("{ARGS}[namespaces]\nnet = 3\n"));
        check(&msg, "bundle/configy.toml:4:7: namespaces.net: invalid type: integer `3`", &["true", "false", "/proc/"]);
        let msg = toml_error(&format!("{ARGS}[namespaces]\nnet = \"proc/1/ns/net\"\n"));
        check(
            &msg,
            "bundle/configy.toml:4:7: namespaces.net: \"proc/1/ns/net\" is not an absolute path",
            &["true or false"],
        );
    }

    #[test]
    fn unknown_capability() {
        let msg = toml_error("[process]\nargs = [\"sh\"]\ncapabilities = { add = [\"NET_ADMIN\", \"CAP_FLY\"] }\n");
        check(
            &msg,
            "bundle/configy.toml:3:38: process.capabilities.add[1]: unknown capability \"CAP_FLY\"",
            &["man 7 capabilities", "\"ALL\""],
        );
    }

    #[test]
    fn unknown_rlimit_and_missing_part() {
        let rlimit = "[[process.rlimits]]\ntype = \"files\"\nsoft = 1\nhard = 1\n";
        let msg = toml_error(&format!("{ARGS}{rlimit}"));
        check(&msg, "bundle/configy.toml:4:8: process.rlimits[0].type: unknown rlimit \"files\"", &["RLIMIT_NOFILE"]);
        let msg = toml_error(&format!("{ARGS}[[process.rlimits]]\ntype = \"nofile\"\nsoft = 1\n"));
        check(&msg, "bundle/configy.toml: process.rlimits[0].hard: missing field `hard`", &["soft = 1024"]);
        let msg = toml_error(&format!("{ARGS}[[process.rlimits]]\ntype = \"nofile\"\nsoft = -1\nhard = 1\n"));
        check(&msg, "bundle/configy.toml:5:8: process.rlimits[0].soft: -1 is not a limit", &["\"unlimited\""]);
    }

    #[test]
    fn invalid_hostname() {
        let msg = toml_error(&format!("hostname = \"my_host\"\n{ARGS}"));
        check(
            &msg,
            "bundle/configy.toml:1:12: hostname: \"my_host\" is not a valid name",
            &["1 to 64 letters, digits, '.' or '-'"],
        );
    }

    #[test]
    fn editable_names_cannot_leave_the_root() {
        let msg =
            toml_error(&format!("{ARGS}[rootfs]\npath = \"r\"\nmode = \"split\"\neditable = [\"etc\", \"..\"]\n"));
        check(
            &msg,
            "bundle/configy.toml:6:20: rootfs.editable[1]: \"..\" is not a top-level directory name",
            &["\"etc\""],
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let msg = toml_error("[process]\nargs = [\"sh\"\n");
        check(&msg, "bundle/configy.toml:2:13: ", &["expected `]`"]);
        // A missing comma is blamed where the comma belongs, not on the next element's line.
        let msg = toml_error("[process]\nargs = [\"sh\",\n  \"-c\"\n  \"x\"]\n");
        check(&msg, "bundle/configy.toml:3:7: ", &["missing comma"]);
        // An unterminated string is the cause, not the "missing comma" toml reports first on the next line.
        let msg = toml_error("[process]\nargs = [\"sh]\ncwd = \"/\"\n");
        check(&msg, "bundle/configy.toml:2:13: ", &["invalid basic string"]);
        let msg = json_error("{\"process\": {\"args\": [\"sh\"],}}");
        check(&msg, "bundle/configy.json:1:29: process: trailing comma", &[]);
        let msg = json_error("{\"process\": {\"args\": [\"sh\"]}} x");
        check(&msg, "bundle/configy.json:1:31: trailing characters", &[]);
    }

    #[test]
    fn json_errors_have_the_same_fields() {
        let msg = json_error(r#"{"hostnmae": "x", "process": {"args": ["sh"]}}"#);
        // The key itself (its opening quote), as for TOML; serde_json would point after it.
        check(&msg, "bundle/configy.json:1:2: unknown field `hostnmae` (did you mean `hostname`?)", &["`hostname`"]);
        let msg = json_error("{\"process\": {\"args\": [\"sh\"],\n \"user\": {\"uid\": \"root\"}}}");
        check(
            &msg,
            "bundle/configy.json:2:23: process.user.uid: invalid type: string",
            &["a number (a uid, 0..=4294967295)"],
        );
        let msg = json_error(r#"{"process": {"args": ["sh"]}, "resources": {"memory": "12Q"}}"#);
        check(&msg, "bundle/configy.json:1:59: resources.memory: \"12Q\" is not a size", &["512M"]);
    }

    #[test]
    fn json_umask_may_be_an_octal_string() {
        let plan = parse_str(
            r#"{"process": {"args": ["sh"], "umask": "027"}}"#,
            Format::Json,
            Path::new("configy.json"),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(plan.process.umask, Some(0o027));
        let msg = json_error(r#"{"process": {"args": ["sh"], "umask": "9"}}"#);
        check(&msg, "bundle/configy.json:1:41: process.umask: \"9\" is not an octal umask", &["0..=0o777"]);
    }
}
