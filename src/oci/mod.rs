//! OCI runtime-spec glue: a bundle's `config.json` -> [`Plan`].
//!
//! An OCI bundle is a directory holding `config.json` and (usually) the root filesystem it names in
//! `root.path`. The config is read in four steps, and the order is what makes the errors useful: the JSON
//! syntax first (an error names line and column); then the support check on the raw JSON (`support.rs`),
//! so a field containy would not honour is refused by name before its value is even looked at; then the
//! typed parse into `oci_spec::runtime::Spec` (a wrong type names the field path and its line); and last
//! the lowering (`convert.rs`, `namespaces.rs`, `mounts.rs`, `resources.rs`, `seccomp.rs`), which checks what the types
//! cannot — relations between fields, kernel ranges — and builds the `Plan`. Nothing here touches the
//! system beyond reading the file.

mod convert;
mod devices;
mod hooks;
mod mount_options;
mod mounts;
mod namespaces;
mod resources;
mod seccomp;
pub mod spec;
mod support;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::plan::Plan;

pub use mount_options::{MountOptions, parse_mount_options};
pub use seccomp::{SeccompInvalid, lower_seccomp};
pub use support::SUPPORTED;

/// Everything that can be wrong with an OCI `config.json`; each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot read the OCI config {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}:{column}: the OCI config is not valid JSON", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error("{}:{line}:{column}: {field} does not match the OCI runtime spec", file.display())]
    Type {
        file: PathBuf,
        /// The JSON path, e.g. `process.rlimits[0].type`.
        field: String,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "{}: {} {} not supported by containy yet ({}); remove {} to run this bundle",
        file.display(),
        fields.join(", "),
        if fields.len() == 1 { "is" } else { "are" },
        support::reasons(fields),
        if fields.len() == 1 { "it" } else { "them" },
    )]
    Unsupported { file: PathBuf, fields: Vec<String> },

    #[error("{}: {field} {problem}", file.display())]
    Invalid { file: PathBuf, field: String, problem: String },
}

/// `--debug`: name the properties the support check ignores.
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_debug() {
    DEBUG.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A setting containy accepts but cannot apply here, and goes on without (as runc does): said on stderr.
pub(crate) fn warn(text: &str) {
    eprintln!("containy: warning: {text}");
}

/// Read `path` (a `config.json`) and lower it. `bundle` is the bundle directory: `root.path` and relative
/// bind-mount sources are resolved against it.
pub fn load(path: &Path, bundle: &Path) -> Result<Plan, OciError> {
    crate::explain!(
        "read the OCI config",
        format!("read {}", path.display()),
        "every setting of the container comes from it; it is checked whole before anything is created"
    );
    let text = std::fs::read_to_string(path).map_err(|source| OciError::Read { path: path.to_path_buf(), source })?;
    parse_str(&text, path, bundle)
}

/// A fragment of an OCI config on its own (`exec --process FILE`, `update --resources FILE`: what engines
/// pass), placed into a minimal config and lowered through the same code, so it is checked the same way.
fn load_fragment(path: &Path, place: impl FnOnce(serde_json::Value) -> serde_json::Value) -> Result<Plan, OciError> {
    let text = std::fs::read_to_string(path).map_err(|source| OciError::Read { path: path.to_path_buf(), source })?;
    parse_fragment(&text, path, place)
}

fn parse_fragment(
    text: &str,
    path: &Path,
    place: impl FnOnce(serde_json::Value) -> serde_json::Value,
) -> Result<Plan, OciError> {
    let fragment: serde_json::Value = serde_json::from_str(text).map_err(|source| OciError::Syntax {
        file: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    })?;
    parse_str(&place(fragment).to_string(), path, Path::new("/"))
}

/// An OCI `process` object (`exec --process FILE`).
pub fn load_process(path: &Path) -> Result<crate::plan::Process, OciError> {
    let plan = load_fragment(path, |process| {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": process,
            "linux": {"namespaces": [{"type": "mount"}]},
        })
    })?;
    Ok(plan.process)
}

/// An OCI `linux.resources` object (`update --resources FILE`).
pub fn load_resources(path: &Path) -> Result<crate::plan::Resources, OciError> {
    let text = std::fs::read_to_string(path).map_err(|source| OciError::Read { path: path.to_path_buf(), source })?;
    parse_resources(&text, path)
}

/// An OCI `linux.resources` object given as text (`update --resources -` reads it from stdin); `label` names
/// it in messages.
pub fn parse_resources(text: &str, label: &Path) -> Result<crate::plan::Resources, OciError> {
    let plan = parse_fragment(text, label, |resources| {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}], "resources": resources},
        })
    })?;
    Ok(plan.resources)
}

/// Lower an already-read `config.json` text; `label` names it in messages.
pub fn parse_str(text: &str, label: &Path, bundle: &Path) -> Result<Plan, OciError> {
    let file = || label.to_path_buf();
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|source| OciError::Syntax {
        file: file(),
        line: source.line(),
        column: source.column(),
        source,
    })?;

    let findings = support::check(&raw);
    if !findings.refused.is_empty() {
        return Err(OciError::Unsupported { file: file(), fields: findings.refused });
    }
    if !findings.ignored.is_empty() {
        if DEBUG.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "containy: debug: {}: ignoring {} (not defined by the runtime spec for Linux)",
                label.display(),
                findings.ignored.join(", ")
            );
        }
        crate::explain!(
            "ignore properties the runtime spec does not define for Linux",
            format!("ignore {}", findings.ignored.join(", ")),
            "the spec says a runtime MUST ignore unknown properties (a newer spec's, a vendor's, or a typo)"
        );
    }

    // Typed from `raw`, not from the text again: the text is tokenized once. Only the text knows where a
    // bad value sits, so a failure is parsed again from it: plainly, then with `serde_path_to_error`, which
    // finds the field's path (its copy of every `Deserialize` is the largest block of code in the binary:
    // not touching it on success keeps a container start's page faults and RSS down — BENCHMARKS.md).
    let spec = <Spec as serde::Deserialize>::deserialize(&raw)
        .or_else(|_| serde_json::from_str::<Spec>(text))
        .map_err(|plain| type_error(text, label, plain))?;

    convert::lower(&spec, &raw, bundle).map_err(|convert::Invalid { field, problem }| OciError::Invalid {
        file: file(),
        field,
        problem,
    })
}

/// The error for a config.json whose values do not fit the spec's types, with the path of the field: the
/// text is parsed once more with `serde_path_to_error`, which records where the parse stood.
fn type_error(text: &str, label: &Path, plain: serde_json::Error) -> OciError {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let (field, source) = match serde_path_to_error::deserialize::<_, Spec>(&mut deserializer) {
        Err(err) => {
            let path = err.path().to_string();
            (if path == "." { String::from("the top level") } else { path }, err.into_inner())
        }
        Ok(_) => (String::from("the top level"), plain),
    };
    OciError::Type { file: label.to_path_buf(), field, line: source.line(), column: source.column(), source }
}

#[cfg(test)]
mod runc_specs;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Capabilities, Network, RootfsSource};
    use runc_specs::RUNC_SPEC;

    const BUNDLE: &str = "/var/lib/bundles/demo";

    type Edit = Box<dyn Fn(&mut serde_json::Value)>;

    fn lower(text: &str) -> Result<Plan, OciError> {
        parse_str(text, Path::new("config.json"), Path::new(BUNDLE))
    }

    /// RUNC_SPEC with one edit applied to its JSON tree.
    fn lower_edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Plan, OciError> {
        let mut value: serde_json::Value = serde_json::from_str(RUNC_SPEC).unwrap();
        edit(&mut value);
        lower(&serde_json::to_string_pretty(&value).unwrap())
    }

    /// The field of an `Invalid` error; panics on any other outcome.
    fn invalid_field(result: Result<Plan, OciError>) -> String {
        match result {
            Err(OciError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-field error, got {other:?}"),
        }
    }

    /// oci-spec is patched (vendor/oci-spec/PATCHED.md) to check `execCPUAffinity` by hand instead of with a
    /// regex: the same grammar, `N` or `N-M`, comma-separated.
    #[test]
    fn exec_cpu_affinity_keeps_the_spec_grammar_without_regex() {
        let process = |affinity: &str| {
            let text = format!(
                r#"{{"cwd": "/", "args": ["true"], "user": {{"uid": 0, "gid": 0}}, "execCPUAffinity": {{"initial": "{affinity}", "final": "0"}}}}"#
            );
            serde_json::from_str::<oci_spec::runtime::Process>(&text)
        };
        for good in ["0", "0-3,7", "12,4-6,8", "0-0"] {
            assert!(process(good).is_ok(), "{good}: {:?}", process(good).err());
        }
        for bad in ["", ",1", "1,", "1--2", "1-2-3", "0-l1", "a", "1 ,2", "-1", "1-", "\u{663}"] {
            let err = process(bad).expect_err(bad).to_string();
            assert!(err.contains("execCPUAffinity"), "{bad}: {err}");
        }
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let cases: Vec<(&str, &str, Edit)> = vec![
            (
                "linux.seccomp.listenerPath",
                "SCMP_ACT_NOTIFY needs a seccomp agent",
                Box::new(|v| {
                    v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a"})
                }),
            ),
            (
                "linux.intelRdt",
                "Intel RDT (resctrl) is not implemented",
                Box::new(|v| v["linux"]["intelRdt"] = serde_json::json!({"closID": "x"})),
            ),
            (
                "process.scheduler",
                "sched_setattr(2)",
                Box::new(|v| v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_FIFO", "priority": 1})),
            ),
            (
                "mounts[0].uidMappings",
                "id-mapped mounts",
                Box::new(|v| v["mounts"][0]["uidMappings"] = serde_json::json!([{"size": 1}])),
            ),
        ];
        for (name, why, edit) in cases {
            let err = lower_edited(|v| edit(v)).unwrap_err();
            assert!(matches!(&err, OciError::Unsupported { fields, .. } if fields == &[name]), "{name}: {err:?}");
            let text = err.to_string();
            assert!(text.starts_with(&format!("config.json: {name} is not supported by containy yet (")), "{text}");
            assert!(text.contains(why) && text.ends_with("; remove it to run this bundle"), "{text}");
        }
    }

    #[test]
    fn unknown_properties_and_defaults_are_accepted() {
        // What dockerd writes into every spec, and what the spec says a runtime must ignore.
        let plan = lower_edited(|v| {
            v["linux"]["resources"]["memory"] = serde_json::json!({"disableOOMKiller": false, "kernel": 0});
            v["linux"]["foo"] = serde_json::json!("bar");
            v["process"]["user"]["username"] = serde_json::json!("root");
            v["hooks"] = serde_json::json!({"poststop": [{"path": "/x", "user": "u"}]});
            v["windows"] = serde_json::json!({"layerFolders": []});
        })
        .unwrap();
        assert!(!plan.resources.oom_kill_disable);
    }

    #[test]
    fn all_unsupported_fields_are_listed_at_once() {
        let err = lower_edited(|v| {
            v["linux"]["intelRdt"] = serde_json::json!({"closID": "x"});
            v["process"]["ioPriority"] = serde_json::json!({"class": "IOPRIO_CLASS_RT"});
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("config.json: linux.intelRdt, process.ioPriority are not supported"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let text = "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\" {}\n}";
        let err = lower(text).unwrap_err();
        assert!(matches!(err, OciError::Syntax { line: 3, column: 13, .. }), "{err:?}");
        assert!(err.to_string().starts_with("config.json:3:13: "), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        let text = RUNC_SPEC.replace("\"uid\": 0", "\"uid\": \"root\"");
        let err = lower(&text).unwrap_err();
        match &err {
            OciError::Type { field, line, .. } => {
                assert_eq!(field, "process.user.uid");
                assert_eq!(*line, 6);
            }
            other => panic!("expected a type error, got {other:?}"),
        }
        assert!(err.to_string().starts_with("config.json:6:"), "{err}");

        let text = RUNC_SPEC.replace("RLIMIT_NOFILE", "RLIMIT_BOGUS");
        match lower(&text).unwrap_err() {
            OciError::Type { field, .. } => assert_eq!(field, "process.rlimits[0].type"),
            other => panic!("expected a type error, got {other:?}"),
        }

        let text = RUNC_SPEC.replacen("CAP_KILL", "CAP_KILLALL", 1);
        match lower(&text).unwrap_err() {
            OciError::Type { field, .. } => assert_eq!(field, "process.capabilities.bounding[1]"),
            other => panic!("expected a type error, got {other:?}"),
        }

        let text = RUNC_SPEC.replace("\"type\": \"ipc\"", "\"type\": \"ipcs\"");
        match lower(&text).unwrap_err() {
            OciError::Type { field, .. } => assert_eq!(field, "linux.namespaces[2].type"),
            other => panic!("expected a type error, got {other:?}"),
        }
    }

    #[test]
    fn relative_root_is_resolved_against_the_bundle() {
        let plan = lower_edited(|v| v["root"] = serde_json::json!({"path": "fs/root"})).unwrap();
        assert_eq!(plan.rootfs.source, RootfsSource::Directory(PathBuf::from(BUNDLE).join("fs/root")));
        assert!(!plan.rootfs.readonly);
        let plan = lower_edited(|v| v["root"]["path"] = serde_json::json!("/srv/rootfs")).unwrap();
        assert_eq!(plan.rootfs.source, RootfsSource::Directory(PathBuf::from("/srv/rootfs")));
    }

    #[test]
    fn load_reads_the_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, RUNC_SPEC).unwrap();
        let plan = load(&path, dir.path()).unwrap();
        assert_eq!(plan.rootfs.source, RootfsSource::Directory(dir.path().join("rootfs")));

        std::fs::write(&path, "{").unwrap();
        let err = load(&path, dir.path()).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}:1:1: ", path.display())), "{err}");

        let missing = dir.path().join("nope.json");
        let err = load(&missing, dir.path()).unwrap_err();
        assert!(matches!(&err, OciError::Read { path, .. } if path == &missing), "{err:?}");
    }

    #[test]
    fn validation_names_the_field() {
        use serde_json::json;
        let cases: Vec<(&str, Edit)> = vec![
            ("process.args", Box::new(|v| v["process"]["args"] = json!([]))),
            ("process.args", Box::new(|v| v["process"].as_object_mut().unwrap().remove("args").map(drop).unwrap())),
            ("process.cwd", Box::new(|v| v["process"]["cwd"] = json!("tmp"))),
            ("process.env[1]", Box::new(|v| v["process"]["env"][1] = json!("NOEQUALS"))),
            ("process.rlimits[0].soft", Box::new(|v| v["process"]["rlimits"][0]["soft"] = json!(2048))),
            ("root.path", Box::new(|v| v.as_object_mut().unwrap().remove("root").map(drop).unwrap())),
            ("mounts[2].destination", Box::new(|v| v["mounts"][2]["destination"] = json!("dev/pts"))),
            (
                "linux.namespaces[5].type",
                Box::new(|v| v["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "pid"}))),
            ),
            (
                "linux.uidMappings",
                Box::new(|v| v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])),
            ),
            (
                "mounts",
                Box::new(|v| v["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "mount")),
            ),
            (
                "linux.resources.memory.swap",
                Box::new(|v| v["linux"]["resources"]["memory"] = json!({"limit": 2000000, "swap": 1000000})),
            ),
            ("linux.rootfsPropagation", Box::new(|v| v["linux"]["rootfsPropagation"] = json!("sharing"))),
            (
                "hostname",
                Box::new(|v| v["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "uts")),
            ),
        ];
        for (field, edit) in cases {
            assert_eq!(invalid_field(lower_edited(|v| edit(v))), field);
        }
    }

    #[test]
    fn rootfs_propagation_lists_what_is_allowed() {
        let err = lower_edited(|v| v["linux"]["rootfsPropagation"] = serde_json::json!("sharing")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.rootfsPropagation is \"sharing\"; containy supports private, rprivate, slave, rslave, \
             shared, rshared, unbindable, runbindable"
        );
        for ok in ["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"] {
            lower_edited(|v| v["linux"]["rootfsPropagation"] = serde_json::json!(ok)).unwrap();
        }
    }

    #[test]
    fn minimal_config_takes_spec_defaults() {
        let text = r#"{"ociVersion": "1.2.0", "root": {"path": "rootfs"},
            "process": {"user": {"uid": 1000, "gid": 1000}, "args": ["/bin/true"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}]}}"#;
        let plan = lower(text).unwrap();
        assert!(plan.process.env.is_empty());
        assert_eq!(plan.process.capabilities, Capabilities::default());
        assert!(!plan.process.no_new_privileges);
        assert!(!plan.process.terminal);
        assert!(plan.mounts.is_empty() && plan.masked_paths.is_empty() && plan.readonly_paths.is_empty());
        assert_eq!(plan.network, Network::Host);
        assert_eq!(plan.resources, crate::plan::Resources::default());
        assert!(!plan.rootfs.readonly);
        assert_eq!(plan.process.seccomp, None, "no linux.seccomp: unconfined, as the spec says");
    }

    #[test]
    fn linux_seccomp_is_lowered() {
        use crate::plan::{SeccompAction, SeccompOp};
        let plan = lower_edited(|v| {
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                    "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 448}]}]
            })
        })
        .unwrap();
        let seccomp = plan.process.seccomp.unwrap();
        assert_eq!(seccomp.default_action, SeccompAction::Allow);
        assert_eq!(seccomp.architectures, ["SCMP_ARCH_X86_64"]);
        let rule = &seccomp.syscalls[0];
        assert_eq!(
            (rule.names.as_slice(), rule.action, rule.errno),
            (&["mkdir".into(), "mkdirat".into()][..], SeccompAction::Errno, Some(13))
        );
        assert_eq!((rule.args[0].index, rule.args[0].value_two, rule.args[0].op), (1, 448, SeccompOp::MaskedEqual));
        // `null` asks for nothing.
        assert_eq!(lower_edited(|v| v["linux"]["seccomp"] = serde_json::Value::Null).unwrap().process.seccomp, None);
    }

    #[test]
    fn linux_seccomp_errors_name_the_field() {
        let seccomp = |rules: serde_json::Value| {
            move |v: &mut serde_json::Value| {
                v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
            }
        };
        let err =
            lower_edited(seccomp(serde_json::json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]))).unwrap_err();
        assert!(
            err.to_string().starts_with("config.json: linux.seccomp.syscalls[0].action is SCMP_ACT_NOTIFY"),
            "{err}"
        );
        // An unknown action or operator is a type error with its line.
        let err =
            lower_edited(seccomp(serde_json::json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]))).unwrap_err();
        assert!(matches!(&err, OciError::Type { field, .. } if field == "linux.seccomp.syscalls[0].action"), "{err:?}");
        let bad_op = serde_json::json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_SOMETIMES"}]}]);
        let err = lower_edited(seccomp(bad_op)).unwrap_err();
        assert!(
            matches!(&err, OciError::Type { field, .. } if field == "linux.seccomp.syscalls[0].args[0].op"),
            "{err:?}"
        );
        let err = lower_edited(|v| {
            v["linux"]["seccomp"] =
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})
        })
        .unwrap_err();
        assert!(matches!(&err, OciError::Type { field, .. } if field == "linux.seccomp.architectures[0]"), "{err:?}");
    }
}
