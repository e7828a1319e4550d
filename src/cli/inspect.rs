//! `containy inspect`'s table: the [`Inspection`] gathered by `runtime::inspect`, laid out for a person.
//! Each section says in a few words what the numbers mean, because this table is read while learning.

use std::fmt::Write;
use std::path::Path;

use colored::Colorize;

use crate::runtime::inspect::{Inspection, SeccompMode, capability_count};

use super::human_size;

/// The whole table, colored when `colored` says so (a terminal, or `CLICOLOR_FORCE`).
pub fn table(i: &Inspection) -> String {
    let mut out = String::new();
    let head = |out: &mut String, label: &str| {
        let _ = write!(out, "\n{}\n", label.bold().underline());
    };
    let inside = i.pid_inside.map_or("?".to_string(), |p| p.to_string());
    let status = serde_json::to_value(i.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let _ = writeln!(out, "{} {}  {status}", "container".bold(), i.id.bold());
    row(&mut out, "pid", &format!("{} on the host, {} inside", i.pid, inside));
    row(&mut out, "command", &shorten(&i.command.join(" ").replace('\n', "⏎"), 90));
    row(&mut out, "bundle", &i.bundle.display().to_string());

    head(&mut out, "namespaces (inode numbers: equal means shared)");
    let _ = writeln!(out, "  {:<8} {:>12} {:>12}", "", "container", "host");
    for ns in &i.namespaces {
        let num = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
        let verdict = if ns.shared { "shared with the host".yellow() } else { "its own".green() };
        let _ = writeln!(out, "  {:<8} {:>12} {:>12}  {verdict}", ns.kind, num(ns.container), num(ns.host));
    }
    let identity = i.uid_map.iter().all(|m| m.inside == m.outside);
    let map = if identity {
        "none: container ids are host ids".to_string()
    } else {
        i.uid_map
            .iter()
            .map(|m| {
                format!(
                    "uid {}..{} inside = {}..{} on the host",
                    m.inside,
                    m.inside + (m.count - 1),
                    m.outside,
                    m.outside + (m.count - 1)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    row(&mut out, "id map", &map);

    head(&mut out, "cgroup (limits are files in these directories)");
    for (controller, dir) in &i.cgroup.paths {
        row(&mut out, controller, &dir.display().to_string());
    }
    let s = &i.cgroup.stats;
    let size = |v: Option<u64>| v.map_or("-".to_string(), human_size);
    row(
        &mut out,
        "memory use",
        &format!("{} used, limit {}", size(s.memory_usage), s.memory_limit.map_or("none".to_string(), human_size)),
    );
    row(&mut out, "cpu use", &s.cpu_usage_ns.map_or("-".to_string(), |ns| format!("{:.3} s used", ns as f64 / 1e9)));
    row(
        &mut out,
        "tasks",
        &format!(
            "{} of {}",
            s.pids_current.map_or("-".to_string(), |p| p.to_string()),
            s.pids_max.map_or("max".to_string(), |m| m.to_string())
        ),
    );
    row(&mut out, "oom kills", &s.oom_kills.to_string());

    head(&mut out, "root filesystem and mounts (paths as the container sees them)");
    if let Some(root) = &i.mounts.root {
        row(&mut out, "/", &format!("{} ({})", root.fstype, root.source));
    }
    if let Some(overlay) = &i.mounts.overlay {
        let lower = overlay.lowerdir.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
        row(&mut out, "lowerdir", &format!("{lower}  {}", "the image, read-only".dimmed()));
        let opt = |p: &Option<std::path::PathBuf>| p.as_deref().map_or("-".to_string(), |p| p.display().to_string());
        row(&mut out, "upperdir", &format!("{}  {}", opt(&overlay.upperdir), "the container's writes".dimmed()));
        row(&mut out, "workdir", &format!("{}  {}", opt(&overlay.workdir), "overlayfs scratch space".dimmed()));
    }
    // The root was shown above, with its layers; the list is everything mounted below it.
    for m in i.mounts.list.iter().filter(|m| m.mount_point != "/") {
        let note = if m.root == "/null" {
            "masked: /dev/null bound over it".yellow().to_string()
        } else if m.options.split(',').any(|o| o == "ro") {
            "read-only".dimmed().to_string()
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {:<28} {:<8} {note}", m.mount_point, m.fstype);
    }

    head(&mut out, "privileges");
    let p = &i.privileges;
    let all = capability_count();
    let names = |set: &[String]| {
        if set.is_empty() {
            "none".to_string()
        } else {
            set.iter().map(|c| c.trim_start_matches("CAP_").to_lowercase()).collect::<Vec<_>>().join(" ")
        }
    };
    row(&mut out, "effective", &format!("{} of {all}: {}", p.effective.len(), names(&p.effective)));
    let bounding = if p.bounding == p.effective { "the same".to_string() } else { names(&p.bounding) };
    row(&mut out, "bounding", &format!("{bounding}  {}", "the most it can ever regain".dimmed()));
    row(&mut out, "inheritable", &names(&p.inheritable));
    row(&mut out, "ambient", &names(&p.ambient));
    row(&mut out, "no_new_privs", if p.no_new_privs { "yes: setuid binaries cannot raise privileges" } else { "no" });
    let seccomp = match p.seccomp {
        SeccompMode::Disabled => "disabled (0): every syscall reaches the kernel".to_string(),
        SeccompMode::Strict => "strict (1): only read, write, exit, sigreturn".to_string(),
        SeccompMode::Filter => {
            format!("filter (2): {} BPF filter(s) decide each syscall", p.seccomp_filters.unwrap_or(1))
        }
    };
    row(&mut out, "seccomp", &seccomp);
    if let Some(uid) = p.host_uid {
        row(&mut out, "host uid", &uid.to_string());
    }

    head(&mut out, "network (the container's network namespace)");
    for iface in &i.network {
        let addrs = if iface.addresses.is_empty() { "no address".to_string() } else { iface.addresses.join(" ") };
        let _ = writeln!(
            out,
            "  {:<12} {addrs}  {}",
            iface.name,
            format!("rx {} tx {}", human_size(iface.rx_bytes), human_size(iface.tx_bytes)).dimmed()
        );
    }
    out
}

/// At most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "  {:<12} {value}", label);
}

/// A host path shown relative to the current directory when it is under it (shorter in lessons).
pub fn short(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    match cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}
