//! `process.seccomp`: which syscall filter the container runs under.
//!
//! `"default"` (also what an absent key means) is containy's own allow-list (`crate::seccomp::default_profile`),
//! `"unconfined"` is no filter at all, and `{ profile = "file.json" }` reads a profile written for Docker or for
//! an OCI `linux.seccomp`, relative to the bundle. The file is read while lowering, so a bad profile is reported
//! before anything runs, as `configy.toml:L:C: process.seccomp.profile: file.json:L:C: field: problem` — both
//! files, both positions. Docker's profiles (its `default.json`, containers-common's `seccomp.json`) extend the
//! OCI format: `archMap` lists the ABIs per native architecture, and a rule may apply only `includes` /
//! `excludes` some capabilities, architectures or kernel version. Those are evaluated here exactly as Docker
//! does (against the container's bounding set, this machine's architecture and running kernel), because a
//! rule like "allow `mount` if the container has `CAP_SYS_ADMIN`" read without its condition would allow
//! `mount` to everyone. What is left is an OCI profile, lowered by `crate::oci::lower_seccomp`.

use std::fmt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::lower::Invalid;
use super::schema::HostPath;
use super::{Format, diagnose, position};
use crate::plan::Seccomp;

/// What `process.seccomp` says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SeccompSetting {
    Default,
    Unconfined,
    Profile(HostPath),
}

const ALLOWED: &str = "use \"default\", \"unconfined\" or { profile = \"profile.json\" } (a Docker or OCI seccomp \
                       profile, relative to the bundle)";

impl<'de> Deserialize<'de> for SeccompSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SettingVisitor;
        impl<'de> Visitor<'de> for SettingVisitor {
            type Value = SeccompSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"default\", \"unconfined\" or { profile = \"profile.json\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeccompSetting, E> {
                match v {
                    "default" => Ok(SeccompSetting::Default),
                    "unconfined" => Ok(SeccompSetting::Unconfined),
                    _ => Err(E::custom(format!("{v:?} is not a seccomp setting: {ALLOWED}"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SeccompSetting, A::Error> {
                let table = ProfileTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SeccompSetting::Profile(table.profile))
            }
        }
        d.deserialize_any(SettingVisitor)
    }
}

/// The table form, `{ profile = "file.json" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileTable {
    profile: HostPath,
}

/// The filter for `setting`; `bounding` is the container's bounding set, which Docker profiles' conditions read.
pub(super) fn lower_seccomp(
    setting: Option<SeccompSetting>,
    bundle: &Path,
    bounding: &[String],
) -> Result<Option<Seccomp>, Invalid> {
    match setting.unwrap_or(SeccompSetting::Default) {
        SeccompSetting::Default => Ok(Some(crate::seccomp::default_profile())),
        SeccompSetting::Unconfined => Ok(None),
        SeccompSetting::Profile(path) => {
            let path = bundle.join(&path.0);
            let field = "process.seccomp.profile";
            let text = std::fs::read_to_string(&path).map_err(|e| Invalid {
                field: field.to_string(),
                message: format!("cannot read {}: {e} (the path is relative to the bundle directory)", path.display()),
            })?;
            let host = Host { arch: GO_ARCH, scmp_arch: NATIVE_SCMP_ARCH, kernel: running_kernel(), bounding };
            read_profile(&text, &host).map(Some).map_err(|failure| {
                let located = failure.into_error(&path).to_string();
                Invalid { field: field.to_string(), message: located }
            })
        }
    }
}

/// What a Docker profile's conditions are evaluated against.
struct Host<'a> {
    /// Go's name for this architecture (`amd64`): Docker's `includes.arches` speak Go.
    arch: &'a str,
    /// The `archMap` entry to use.
    scmp_arch: &'a str,
    /// (major, minor) of the running kernel, for `minKernel`.
    kernel: Option<(u32, u32)>,
    bounding: &'a [String],
}

const GO_ARCH: &str = match () {
    _ if cfg!(target_arch = "x86_64") => "amd64",
    _ if cfg!(target_arch = "x86") => "386",
    _ if cfg!(target_arch = "aarch64") => "arm64",
    _ if cfg!(target_arch = "arm") => "arm",
    _ if cfg!(target_arch = "s390x") => "s390x",
    _ if cfg!(target_arch = "powerpc64") => "ppc64le",
    _ if cfg!(target_arch = "riscv64") => "riscv64",
    _ if cfg!(target_arch = "loongarch64") => "loong64",
    _ => "unknown",
};

const NATIVE_SCMP_ARCH: &str = match () {
    _ if cfg!(target_arch = "x86_64") => "SCMP_ARCH_X86_64",
    _ if cfg!(target_arch = "x86") => "SCMP_ARCH_X86",
    _ if cfg!(target_arch = "aarch64") => "SCMP_ARCH_AARCH64",
    _ if cfg!(target_arch = "arm") => "SCMP_ARCH_ARM",
    _ if cfg!(target_arch = "s390x") => "SCMP_ARCH_S390X",
    _ if cfg!(target_arch = "powerpc64") => "SCMP_ARCH_PPC64LE",
    _ if cfg!(target_arch = "riscv64") => "SCMP_ARCH_RISCV64",
    _ if cfg!(target_arch = "loongarch64") => "SCMP_ARCH_LOONGARCH64",
    _ => "SCMP_ARCH_NATIVE",
};

fn running_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    kernel_version(release.trim())
}

/// `6.1.0-18-amd64` -> (6, 1).
fn kernel_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// A profile file: OCI `linux.seccomp` plus Docker's extensions. Values use `oci_spec`'s types, so the
/// vocabulary (`SCMP_ACT_*`, `SCMP_ARCH_*`, `SCMP_CMP_*`) is checked while parsing, with the line and column.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileFile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<Arch>>,
    arch_map: Option<Vec<ArchMapEntry>>,
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Vec<ProfileSyscall>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArchMapEntry {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Vec<Arch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileSyscall {
    #[serde(default)]
    names: Vec<String>,
    /// Docker's older spelling of a one-name rule.
    name: Option<String>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Condition,
    #[serde(default)]
    excludes: Condition,
    #[allow(dead_code)] // free text, read so that deny_unknown_fields accepts it
    comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Condition {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    min_kernel: Option<String>,
}

fn read_profile(text: &str, host: &Host) -> Result<Seccomp, diagnose::Failure> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file: ProfileFile = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| diagnose::from_json(Some(err.path()), err.inner()))?;
    deserializer.end().map_err(|err| diagnose::from_json(None, &err))?;
    let failure = |field: String, message: String| {
        let position = position::find_field(text, Format::Json, &field);
        diagnose::Failure { field, message, position }
    };

    let mut architectures = file.architectures.unwrap_or_default();
    if let Some(map) = file.arch_map {
        if !architectures.is_empty() {
            let message = "both architectures and archMap are given: use one of them".to_string();
            return Err(failure("archMap".into(), message));
        }
        // Docker takes the native entry's ABIs only: the others are for other machines.
        for entry in map.into_iter().filter(|entry| oci_name(&entry.architecture) == host.scmp_arch) {
            architectures.push(entry.architecture);
            architectures.extend(entry.sub_architectures);
        }
    }

    let mut syscalls = Vec::new();
    for (i, rule) in file.syscalls.into_iter().enumerate() {
        let names = match (rule.name, rule.names.is_empty()) {
            (Some(_), false) => {
                let message = "both name and names are given: list every syscall in names".to_string();
                return Err(failure(format!("syscalls[{i}].name"), message));
            }
            (Some(name), true) => vec![name],
            (None, _) => rule.names,
        };
        let applies = condition_holds(&rule.includes, host, true)
            .map_err(|m| failure(format!("syscalls[{i}].includes.minKernel"), m))?
            && !condition_holds(&rule.excludes, host, false)
                .map_err(|m| failure(format!("syscalls[{i}].excludes.minKernel"), m))?;
        if !applies {
            continue;
        }
        let mut syscall = LinuxSyscall::default();
        syscall.set_names(names).set_action(rule.action).set_errno_ret(rule.errno_ret).set_args(rule.args);
        syscalls.push((i, syscall));
    }

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(file.default_action)
        .set_default_errno_ret(file.default_errno_ret)
        .set_architectures(Some(architectures))
        .set_flags(file.flags)
        .set_listener_path(file.listener_path)
        .set_listener_metadata(file.listener_metadata);
    let (indices, rules): (Vec<usize>, Vec<LinuxSyscall>) = syscalls.into_iter().unzip();
    profile.set_syscalls(Some(rules));
    crate::oci::lower_seccomp(&profile).map_err(|e| {
        // Rules left out by their conditions shift the indices: report the file's own.
        let field = match e.field.strip_prefix("syscalls[").and_then(|rest| rest.split_once(']')) {
            Some((n, rest)) => match n.parse::<usize>().ok().and_then(|n| indices.get(n)) {
                Some(original) => format!("syscalls[{original}]{rest}"),
                None => e.field,
            },
            None => e.field,
        };
        failure(field, e.problem)
    })
}

/// Whether `condition` holds on `host`. An empty condition holds for `includes` (`empty_holds`) and not for
/// `excludes`. Docker: every listed capability must be in the bounding set for `includes`, any one for `excludes`.
fn condition_holds(condition: &Condition, host: &Host, empty_holds: bool) -> Result<bool, String> {
    let mut tests = Vec::new();
    if !condition.arches.is_empty() {
        tests.push(condition.arches.iter().any(|arch| arch == host.arch));
    }
    if !condition.caps.is_empty() {
        let has = |cap: &String| host.bounding.iter().any(|b| b.eq_ignore_ascii_case(cap));
        tests.push(if empty_holds { condition.caps.iter().all(has) } else { condition.caps.iter().any(has) });
    }
    if let Some(min) = &condition.min_kernel {
        let wanted = kernel_version(min)
            .ok_or_else(|| format!("{min:?} is not a kernel version: write major.minor, e.g. \"4.8\""))?;
        // An unknown running kernel is taken as new enough: the rules that need one are the permissive ones.
        tests.push(host.kernel.is_none_or(|running| running >= wanted));
    }
    Ok(if tests.is_empty() {
        empty_holds
    } else if empty_holds {
        tests.iter().all(|t| *t)
    } else {
        tests.iter().any(|t| *t)
    })
}

fn oci_name(arch: &Arch) -> String {
    match serde_json::to_value(arch) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{ARGS, check, toml_error, toml_plan};
    use crate::plan::{SeccompAction, SeccompOp};

    const AMD64: Host = Host { arch: "amd64", scmp_arch: "SCMP_ARCH_X86_64", kernel: Some((6, 1)), bounding: &[] };

    fn profile(text: &str, host: &Host) -> Result<Seccomp, String> {
        read_profile(text, host).map_err(|f| f.into_error(Path::new("p.json")).to_string())
    }

    #[test]
    fn the_default_is_the_shipped_profile_and_unconfined_is_none() {
        let plan = toml_plan(ARGS);
        assert_eq!(plan.process.seccomp, Some(crate::seccomp::default_profile()));
        let plan = toml_plan(&format!("{ARGS}seccomp = \"default\"\n"));
        assert_eq!(plan.process.seccomp, Some(crate::seccomp::default_profile()));
        assert_eq!(toml_plan(&format!("{ARGS}seccomp = \"unconfined\"\n")).process.seccomp, None);
        let json = crate::config::test_support::json_plan(r#"{"process": {"args": ["sh"], "seccomp": "unconfined"}}"#);
        assert_eq!(json.process.seccomp, None);
    }

    #[test]
    fn a_bad_setting_says_what_is_allowed() {
        let msg = toml_error(&format!("{ARGS}seccomp = \"strict\"\n"));
        check(
            &msg,
            "bundle/configy.toml:3:11: process.seccomp: \"strict\" is not a seccomp setting",
            &["\"unconfined\""],
        );
        let msg = toml_error(&format!("{ARGS}seccomp = {{ file = \"p.json\" }}\n"));
        check(&msg, "bundle/configy.toml:3:", &["process.seccomp", "unknown field `file`", "`profile`"]);
        let msg = toml_error(&format!("{ARGS}seccomp = true\n"));
        check(&msg, "bundle/configy.toml:3:11: process.seccomp: invalid type: boolean `true`", &["\"default\""]);
    }

    #[test]
    fn a_profile_file_is_read_relative_to_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("block-mkdir.json"),
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
        )
        .unwrap();
        let text = format!("{ARGS}seccomp = {{ profile = \"block-mkdir.json\" }}\n");
        let plan = crate::config::parse_str(&text, Format::Toml, Path::new("configy.toml"), dir.path()).unwrap();
        let seccomp = plan.process.seccomp.unwrap();
        assert_eq!(seccomp.default_action, SeccompAction::Allow);
        assert_eq!((seccomp.syscalls[0].action, seccomp.syscalls[0].errno), (SeccompAction::Errno, Some(13)));

        let text = format!("{ARGS}[process.seccomp]\nprofile = \"missing.json\"\n");
        let err = crate::config::parse_str(&text, Format::Toml, Path::new("configy.toml"), dir.path()).unwrap_err();
        let msg = err.to_string();
        check(
            &msg,
            "configy.toml:4:1: process.seccomp.profile: cannot read ",
            &["missing.json", "relative to the bundle"],
        );
    }

    #[test]
    fn errors_in_a_profile_name_both_files_and_positions() {
        let dir = tempfile::tempdir().unwrap();
        let bad = "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOPE\"}\n  ]\n}\n";
        std::fs::write(dir.path().join("p.json"), bad).unwrap();
        let text = format!("{ARGS}seccomp = {{ profile = \"p.json\" }}\n");
        let err = crate::config::parse_str(&text, Format::Toml, Path::new("configy.toml"), dir.path()).unwrap_err();
        let msg = err.to_string();
        let profile = dir.path().join("p.json").display().to_string();
        check(
            &msg,
            &format!("configy.toml:3:13: process.seccomp.profile: {profile}:4:"),
            &["syscalls[0].action", "unknown variant `SCMP_ACT_NOPE`", "SCMP_ACT_ERRNO"],
        );
    }

    #[test]
    fn profile_errors_are_located_in_the_profile() {
        let err = profile("{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}", &AMD64)
            .unwrap_err();
        check(&err, "p.json:2:", &["syscalls[0].action", "SCMP_ACT_NOTIFY", "containy runs none"]);
        let err = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW", "defualtErrnoRet": 1}"#, &AMD64).unwrap_err();
        check(&err, "p.json:1:", &["unknown field `defualtErrnoRet`", "`defaultErrnoRet`"]);
        let err =
            profile(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#, &AMD64).unwrap_err();
        check(&err, "p.json:1:", &["architectures[0]", "unknown variant `SCMP_ARCH_Z80`"]);
        let err = profile(r#"{"syscalls": []}"#, &AMD64).unwrap_err();
        check(&err, "p.json: defaultAction: missing field `defaultAction`", &[]);
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": []}"#;
        check(&profile(both, &AMD64).unwrap_err(), "p.json:1:", &["archMap", "use one of them"]);
    }

    /// A cut-down Docker default.json: archMap, name vs names, includes/excludes.
    const DOCKER: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"name": "chroot", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    }"#;

    fn names(seccomp: &Seccomp) -> Vec<&str> {
        seccomp.syscalls.iter().flat_map(|rule| rule.names.iter().map(String::as_str)).collect()
    }

    #[test]
    fn docker_conditions_are_evaluated_for_this_container() {
        let plain = profile(DOCKER, &AMD64).unwrap();
        assert_eq!(plain.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
        assert_eq!(names(&plain), ["read", "write", "ptrace", "arch_prctl", "clone", "clone3"]);
        let clone = &plain.syscalls[3];
        assert_eq!((clone.args[0].op, clone.args[0].value), (SeccompOp::MaskedEqual, 0x7e02_0000));

        let admin = ["CAP_SYS_ADMIN".to_string(), "CAP_SYS_CHROOT".to_string()];
        let old_arm = Host { arch: "arm64", scmp_arch: "SCMP_ARCH_AARCH64", kernel: Some((4, 4)), bounding: &admin };
        let other = profile(DOCKER, &old_arm).unwrap();
        assert_eq!(other.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
        assert_eq!(names(&other), ["read", "write", "set_tls", "mount", "chroot"]);
    }

    #[test]
    fn rule_indices_in_errors_are_the_files_own() {
        // Rule 1 is left out on amd64, so the bad rule is the first lowered one but the file's third.
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["set_tls"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["arm"]}},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99999}]}"#;
        check(&profile(text, &AMD64).unwrap_err(), "p.json:3:", &["syscalls[1].errnoRet", "at most 4095"]);
        let bad_kernel = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "new"}}]}"#;
        check(&profile(bad_kernel, &AMD64).unwrap_err(), "p.json:2:", &["syscalls[0].includes.minKernel", "\"4.8\""]);
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("6"), None);
        assert!((4, 19) > (4, 8), "compared as numbers, not strings");
    }
}
