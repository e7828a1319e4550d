//! OCI `linux.seccomp` -> [`plan::Seccomp`](crate::plan::Seccomp): the syscall filter, by name, as runc reads it.
//!
//! `oci_spec` has already checked the vocabulary (an unknown `SCMP_ACT_*`, `SCMP_CMP_*` or `SCMP_ARCH_*` fails
//! the typed parse, with its line). What is left is what containy cannot do and what the kernel would refuse:
//! `SCMP_ACT_NOTIFY` needs a seccomp agent listening on `listenerPath`, which containy does not run; an errno
//! above 4095 or an argument number above 5 does not exist. The same function lowers the profile files a
//! friendly config names (`crate::config`), so both formats mean exactly the same thing. Field names in errors
//! are relative to the seccomp object (`syscalls[2].action`); the caller prefixes them.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use crate::plan::{ArgCmp, Seccomp, SeccompAction, SeccompOp, SyscallRule};

/// A value in a seccomp profile containy cannot use: the field (relative to the profile) and what is wrong,
/// as a phrase that follows the field name.
#[derive(Debug, Clone, PartialEq)]
pub struct SeccompInvalid {
    pub field: String,
    pub problem: String,
}

fn invalid<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, SeccompInvalid> {
    Err(SeccompInvalid { field: field.into(), problem: problem.into() })
}

/// The kernel clamps a filter's errno to `MAX_ERRNO`.
const MAX_ERRNO: u32 = 4095;

/// Lower one seccomp profile. Absent optional fields mean what runc makes of them: no `architectures` is the
/// native ABI only; no `errnoRet` is `EPERM`.
pub fn lower_seccomp(profile: &LinuxSeccomp) -> Result<Seccomp, SeccompInvalid> {
    if profile.listener_path().is_some() {
        return invalid(
            "listenerPath",
            "is not supported: containy runs no seccomp agent to pass notifications to; remove it along with \
             any SCMP_ACT_NOTIFY rule",
        );
    }
    let default_action = action("defaultAction", profile.default_action())?;
    let default_errno = errno("defaultErrnoRet", profile.default_errno_ret())?;
    let architectures = profile.architectures().as_deref().unwrap_or_default().iter().map(oci_name).collect();
    let mut flags = Vec::new();
    for (i, flag) in profile.flags().as_deref().unwrap_or_default().iter().enumerate() {
        if *flag == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv {
            return invalid(
                format!("flags[{i}]"),
                "is SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, which only applies to SCMP_ACT_NOTIFY, which containy \
                 does not support; remove it",
            );
        }
        flags.push(oci_name(flag));
    }

    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls().as_deref().unwrap_or_default().iter().enumerate() {
        let field = |name: &str| format!("syscalls[{i}].{name}");
        if rule.names().is_empty() {
            return invalid(field("names"), "is empty: name at least one syscall, e.g. [\"mkdir\"]");
        }
        for (j, name) in rule.names().iter().enumerate() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return invalid(format!("syscalls[{i}].names[{j}]"), format!("{name:?} is not a syscall name"));
            }
        }
        let mut args = Vec::new();
        for (j, arg) in rule.args().as_deref().unwrap_or_default().iter().enumerate() {
            let index = match u32::try_from(arg.index()) {
                Ok(index) if index <= 5 => index,
                _ => {
                    return invalid(
                        format!("syscalls[{i}].args[{j}].index"),
                        format!("is {}, but syscalls have arguments 0 to 5", arg.index()),
                    );
                }
            };
            args.push(ArgCmp { index, value: arg.value(), value_two: arg.value_two().unwrap_or(0), op: op(arg.op()) });
        }
        syscalls.push(SyscallRule {
            names: rule.names().clone(),
            action: action(&field("action"), rule.action())?,
            errno: errno(&field("errnoRet"), rule.errno_ret())?,
            args,
        });
    }
    Ok(Seccomp { default_action, default_errno, architectures, flags, syscalls })
}

/// The spec's own spelling (`SCMP_ARCH_X86_64`): what the JSON said, and what libseccomp parses.
fn oci_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => format!("{other:?}"),
    }
}

fn errno(field: &str, value: Option<u32>) -> Result<Option<u32>, SeccompInvalid> {
    match value {
        Some(errno) if errno > MAX_ERRNO => {
            invalid(field, format!("is {errno}, but an errno is at most {MAX_ERRNO} (e.g. 1 for EPERM, 38 for ENOSYS)"))
        }
        other => Ok(other),
    }
}

fn action(field: &str, action: LinuxSeccompAction) -> Result<SeccompAction, SeccompInvalid> {
    Ok(match action {
        LinuxSeccompAction::ScmpActKill => SeccompAction::Kill,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return invalid(
                field,
                "is SCMP_ACT_NOTIFY, which hands the syscall to a seccomp agent over a unix socket; containy runs \
                 none: use SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS or SCMP_ACT_TRAP instead",
            );
        }
    })
}

fn op(op: LinuxSeccompOperator) -> SeccompOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => SeccompOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => SeccompOp::LessThan,
        LinuxSeccompOperator::ScmpCmpLe => SeccompOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => SeccompOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => SeccompOp::GreaterOrEqual,
        LinuxSeccompOperator::ScmpCmpGt => SeccompOp::GreaterThan,
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompOp::MaskedEqual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lower(value: serde_json::Value) -> Result<Seccomp, SeccompInvalid> {
        lower_seccomp(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn rules_and_arguments_are_translated() {
        let profile = lower(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}
                ]},
                {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [
                    {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 5, "op": "SCMP_CMP_GT"}
                ]},
                {"names": ["kill"], "action": "SCMP_ACT_KILL"}
            ]
        }))
        .unwrap();
        assert_eq!((profile.default_action, profile.default_errno), (SeccompAction::Errno, Some(38)));
        assert_eq!(profile.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(profile.flags, ["SECCOMP_FILTER_FLAG_LOG"]);
        assert_eq!(profile.syscalls.len(), 4);
        assert_eq!(profile.syscalls[0].names, ["read", "write"]);
        assert_eq!((profile.syscalls[0].action, profile.syscalls[0].errno), (SeccompAction::Allow, None));
        assert_eq!(profile.syscalls[1].args, [ArgCmp { index: 0, value: 8, value_two: 0, op: SeccompOp::Equal }]);
        let clone = &profile.syscalls[2];
        assert_eq!((clone.action, clone.errno), (SeccompAction::Errno, Some(1)));
        assert_eq!(
            clone.args,
            [
                ArgCmp { index: 0, value: 0x7e02_0000, value_two: 0, op: SeccompOp::MaskedEqual },
                ArgCmp { index: 1, value: 5, value_two: 0, op: SeccompOp::GreaterThan },
            ]
        );
        assert_eq!(profile.syscalls[3].action, SeccompAction::Kill);
    }

    #[test]
    fn a_bare_profile_is_the_native_abi_and_no_rules() {
        let profile = lower(json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
        assert_eq!(
            profile,
            Seccomp {
                default_action: SeccompAction::Allow,
                default_errno: None,
                architectures: vec![],
                flags: vec![],
                syscalls: vec![]
            }
        );
    }

    #[test]
    fn what_containy_cannot_do_is_refused_by_field() {
        let field = |value| lower(value).unwrap_err().field;
        let notify = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
        ]});
        let err = lower(notify).unwrap_err();
        assert_eq!(err.field, "syscalls[1].action");
        assert!(err.problem.contains("SCMP_ACT_NOTIFY") && err.problem.contains("SCMP_ACT_ERRNO"), "{err:?}");
        assert_eq!(field(json!({"defaultAction": "SCMP_ACT_NOTIFY"})), "defaultAction");
        assert_eq!(
            field(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"})),
            "listenerPath"
        );
        assert_eq!(
            field(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})),
            "flags[0]"
        );
        assert_eq!(field(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096})), "defaultErrnoRet");
        let rule = |rule| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]});
        assert_eq!(field(rule(json!({"names": [], "action": "SCMP_ACT_ERRNO"}))), "syscalls[0].names");
        assert_eq!(field(rule(json!({"names": ["a b"], "action": "SCMP_ACT_ERRNO"}))), "syscalls[0].names[0]");
        assert_eq!(
            field(rule(json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}))),
            "syscalls[0].errnoRet"
        );
        let bad_index = json!({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}
        ]});
        assert_eq!(field(rule(bad_index)), "syscalls[0].args[0].index");
    }

    #[test]
    fn unknown_vocabulary_fails_the_typed_parse() {
        for bad in [
            json!({"defaultAction": "SCMP_ACT_MAYBE"}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}
            ]}),
        ] {
            assert!(serde_json::from_value::<LinuxSeccomp>(bad.clone()).is_err(), "{bad}");
        }
    }
}
