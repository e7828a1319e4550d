//! OCI `hooks` -> the plan's hooks: each list checked where the error can still name the field.
//!
//! The spec extends `execv`: a hook's `path` MUST be absolute (there is no `$PATH` search — which `PATH`
//! would it be, the host's or the container's?), its `env` is the whole environment, and a `timeout`, if
//! given, MUST be greater than zero.

use oci_spec::runtime::Spec;

use super::convert::{Invalid, invalid, no_nul};
use crate::plan::{Hook, Hooks};

pub(super) fn lower_hooks(spec: &Spec) -> Result<Hooks, Invalid> {
    let Some(hooks) = spec.hooks() else { return Ok(Hooks::default()) };
    // `prestart` is deprecated in favour of the three finer points, but engines still send it.
    #[allow(deprecated)]
    let prestart = hooks.prestart();
    Ok(Hooks {
        prestart: lower_list("hooks.prestart", prestart)?,
        create_runtime: lower_list("hooks.createRuntime", hooks.create_runtime())?,
        create_container: lower_list("hooks.createContainer", hooks.create_container())?,
        start_container: lower_list("hooks.startContainer", hooks.start_container())?,
        poststart: lower_list("hooks.poststart", hooks.poststart())?,
        poststop: lower_list("hooks.poststop", hooks.poststop())?,
    })
}

fn lower_list(field: &str, hooks: &Option<Vec<oci_spec::runtime::Hook>>) -> Result<Vec<Hook>, Invalid> {
    let mut lowered = Vec::new();
    for (i, hook) in hooks.iter().flatten().enumerate() {
        let at = |name: &str| format!("{field}[{i}].{name}");
        if !hook.path().is_absolute() {
            return Err(invalid(at("path"), format!("must be an absolute path, got {:?}", hook.path())));
        }
        no_nul(&at("path"), &hook.path().to_string_lossy())?;
        let args = hook.args().clone().unwrap_or_default();
        let env = hook.env().clone().unwrap_or_default();
        for (j, var) in env.iter().enumerate() {
            if !var.contains('=') {
                return Err(invalid(format!("{}[{j}]", at("env")), format!("must be KEY=VALUE, got {var:?}")));
            }
        }
        for (j, text) in args.iter().chain(&env).enumerate() {
            no_nul(&format!("{field}[{i}] argument/variable {j}"), text)?;
        }
        let timeout = match hook.timeout() {
            None => None,
            Some(secs) if secs > 0 => Some(u32::try_from(secs).unwrap_or(u32::MAX)),
            Some(secs) => return Err(invalid(at("timeout"), format!("must be greater than zero, got {secs}"))),
        };
        lowered.push(Hook { path: hook.path().clone(), args, env, timeout });
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oci::convert::tests::{field_of, lower_with};

    #[test]
    fn every_hook_point_is_lowered_in_order() {
        let plan = lower_with(|v| {
            v["hooks"] = json!({
                "prestart": [{"path": "/bin/p"}],
                "createRuntime": [{"path": "/bin/a", "args": ["a", "-x"], "env": ["K=V"], "timeout": 5},
                                  {"path": "/bin/b"}],
                "createContainer": [{"path": "/bin/c"}],
                "startContainer": [{"path": "/bin/s"}],
                "poststart": [{"path": "/bin/ps"}],
                "poststop": [{"path": "/bin/stop"}],
            });
        })
        .unwrap();
        let h = &plan.hooks;
        assert_eq!(h.prestart[0].path, std::path::Path::new("/bin/p"));
        assert_eq!(
            h.create_runtime[0],
            Hook {
                path: "/bin/a".into(),
                args: vec!["a".into(), "-x".into()],
                env: vec!["K=V".into()],
                timeout: Some(5)
            }
        );
        assert_eq!(h.create_runtime[1].timeout, None);
        assert_eq!(h.create_container.len() + h.start_container.len() + h.poststart.len() + h.poststop.len(), 4);
    }

    #[test]
    fn bad_hooks_are_refused_by_field() {
        let relative = field_of(|v| v["hooks"] = json!({"poststop": [{"path": "bin/x"}]}));
        assert_eq!(relative, "hooks.poststop[0].path");
        let zero = field_of(|v| v["hooks"] = json!({"createRuntime": [{"path": "/x", "timeout": 0}]}));
        assert_eq!(zero, "hooks.createRuntime[0].timeout");
        let env = field_of(|v| v["hooks"] = json!({"prestart": [{"path": "/x", "env": ["NOEQUALS"]}]}));
        assert_eq!(env, "hooks.prestart[0].env[0]");
    }
}
