//! The engine's verbs on containers, blocking and synchronous: create, start, kill, stop, remove, and the
//! live status. The daemon runs them on tokio's blocking threads; the CLI calls them directly. Each leaves
//! nothing behind when it fails: a create that cannot make its container removes its record and name.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::record::{self, Record, RunState};
use super::request::CreateRequest;
use super::{Engine, EngineError, Result, client};
use crate::runtime::container::Container;

/// Create a container: check the request and make its Plan, write the record, claim the name, and start
/// its monitor, which creates the container (it then waits for `start`).
pub fn create(engine: &Engine, name: Option<&str>, mut req: CreateRequest) -> Result<Record> {
    let id = super::generate_id();
    let generated = name.is_none_or(str::is_empty);
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => {
            let n = n.strip_prefix('/').unwrap_or(n);
            record::check_name(n)?;
            n.to_string()
        }
        None => record::generate_name(&id),
    };
    // On a user network peers find each other through /etc/hosts, which lists hostnames: without a
    // --hostname, the container's name is its hostname there, so `wget http://NAME/` works as with docker.
    let mode = req.host_config.network_mode.as_str();
    // Its first network alias (docker-compose names a service so) comes first.
    let hostname_like = |n: &str| n.len() <= 63 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let user_network = !matches!(mode, "" | "default" | "bridge" | "none" | "host") && !mode.contains(':');
    let endpoints = req.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref());
    let alias = endpoints
        .and_then(|e| e.get(mode))
        .and_then(|e| e["Aliases"].as_array())
        .and_then(|a| a.iter().filter_map(|v| v.as_str()).find(|a| hostname_like(a)))
        .map(str::to_string);
    if req.hostname.is_empty() && user_network {
        if let Some(alias) = alias {
            req.hostname = alias;
        } else if hostname_like(&name) {
            req.hostname = name.clone();
        }
    }
    // The Plan is made here once to refuse a bad request before anything exists; the monitor makes it again.
    let plan = super::plan::make_plan(engine, &id, &req)?;
    let image_id = crate::image::store::Store::open(&engine.store)?.find(&req.image)?.id;
    record::sweep(engine);
    // Recorded before anything is taken: the record is published first (whole, by rename), then its name is
    // claimed, then the monitor makes the container. A failure (or a kill) at any point leaves a record
    // that `rm -f` removes with all it holds, or nothing.
    let mut rec = Record {
        id: id.clone(),
        name: name.clone(),
        created: crate::clock::now_rfc3339(),
        image_id,
        path: plan.process.args.first().cloned().unwrap_or_default(),
        args: plan.process.args.iter().skip(1).cloned().collect(),
        request: req,
    };
    record::publish(engine, &rec)?;
    let claimed = crate::fault::at("create.2").map_err(EngineError::from).and_then(|()| {
        if generated {
            record::claim_generated(engine, &name, &id)
        } else {
            record::claim_name(engine, &name, &id).map(|()| name.clone())
        }
    });
    let made = claimed
        .and_then(|claimed| {
            if claimed != rec.name {
                // The generated name was taken: the record says which one it got.
                rec.name = claimed;
                record::write_json(&engine.record_dir(&id), "config.json", &rec)?;
            }
            Ok(crate::fault::at("create.3")?)
        })
        .and_then(|()| client::spawn_monitor(engine, &id));
    if let Err(e) = made {
        // What a monitor may have made before it failed (or was killed), then the record and the name.
        leftover_cleanup(engine, &id);
        let _ = record::remove(engine, &id, &rec.name);
        return Err(e);
    }
    super::events::emit(engine, &rec, "create", &[]);
    Ok(rec)
}

/// Start a created container, or a new run of an exited one. `false`: it was running already.
pub fn start(engine: &Engine, reference: &str) -> Result<bool> {
    let rec = record::find(engine, reference)?;
    // One start at a time: two that both found no monitor would each make one (and delete the other's
    // container as a leftover); the second finds the container running.
    let _one = record::lock(engine, &rec.id)?;
    let state = status(engine, &rec);
    if state.status == "running" || state.status == "paused" {
        return Ok(false);
    }
    make_monitor(engine, &rec)?;
    crate::fault::at("start.1")?;
    client::request(engine, &rec.id, "start")?;
    super::events::emit(engine, &rec, "start", &[]);
    Ok(true)
}

/// A monitor for `rec`: the one it has, or, when it ended before, a fresh container from the same record
/// (created, waiting for `start`; the log and the writable layer go on) — what `start` needs, and `attach`
/// before `start` (`docker start -a` of an exited container attaches first).
pub fn ensure_monitor(engine: &Engine, rec: &Record) -> Result<()> {
    let _one = record::lock(engine, &rec.id)?;
    make_monitor(engine, rec)
}

/// [`ensure_monitor`], with the record's lock held by the caller.
fn make_monitor(engine: &Engine, rec: &Record) -> Result<()> {
    if client::connect(engine, &rec.id).is_none() {
        leftover_cleanup(engine, &rec.id);
        client::spawn_monitor(engine, &rec.id)?;
    }
    Ok(())
}

/// The status as it is: the monitor's record, corrected when the monitor is gone.
pub fn status(engine: &Engine, rec: &Record) -> RunState {
    let mut state = rec.state(engine);
    let live = matches!(state.status.as_str(), "created" | "running");
    if live && client::connect(engine, &rec.id).is_none() {
        // The monitor died without writing the end (killed itself): the container cannot be reaped by us.
        state.status = "exited".into();
        if state.exit_code == 0 {
            state.exit_code = 255;
        }
        state.pid = 0;
    } else if state.status == "running" && engine.monitor_dir(&rec.id).join("paused").exists() {
        state.status = "paused".into();
    }
    state
}

/// `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || EngineError::bad(format!("Invalid signal: {text}"));
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map_err(|_| bad())
}

pub fn kill(engine: &Engine, reference: &str, signal: Signal) -> Result<()> {
    let rec = record::find(engine, reference)?;
    let state = status(engine, &rec);
    if state.status != "running" && state.status != "paused" {
        return Err(EngineError::conflict(format!("Container {} is not running", rec.id)));
    }
    let container = Container::load(&engine.state_root, &rec.id).map_err(|e| match e {
        // It ended by itself since `status`.
        crate::runtime::RuntimeError::NotFound { .. } => {
            EngineError::conflict(format!("Container {} is not running", rec.id))
        }
        e => e.into(),
    })?;
    container.kill(signal, false)?;
    super::events::emit(engine, &rec, "kill", &[("signal", (signal as i32).to_string())]);
    Ok(())
}

/// `stop`: the stop signal, then after `timeout` seconds SIGKILL; returns once the container has ended.
/// `false`: it was not running.
pub fn stop(engine: &Engine, reference: &str, timeout: Option<i64>) -> Result<bool> {
    let rec = record::find(engine, reference)?;
    if !matches!(status(engine, &rec).status.as_str(), "running" | "paused") {
        return Ok(false);
    }
    let signal = match &rec.request.stop_signal {
        Some(s) if !s.is_empty() => parse_signal(s)?,
        _ => Signal::SIGTERM,
    };
    let timeout = timeout.or(rec.request.stop_timeout).unwrap_or(10).max(0) as u64;
    let container = match Container::load(&engine.state_root, &rec.id) {
        Ok(c) => c,
        // It ended by itself since `status` (its monitor deleted it): nothing to stop, as docker's 304.
        Err(crate::runtime::RuntimeError::NotFound { .. }) => {
            client::wait_gone(engine, &rec.id);
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let _ = container.resume();
    let _ = std::fs::remove_file(engine.monitor_dir(&rec.id).join("paused"));
    let _ = container.kill(signal, false);
    crate::fault::at("stop.1")?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while container.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if container.alive() {
        let _ = container.kill(Signal::SIGKILL, true);
        crate::fault::at("stop.2")?;
    }
    client::wait_gone(engine, &rec.id);
    Ok(true)
}

/// `rm`: refuse a running container unless `force`; kill it, wait for its monitor to clean up, then remove
/// the record, its log and its name.
pub fn remove(engine: &Engine, reference: &str, force: bool) -> Result<()> {
    let rec = record::find(engine, reference)?;
    let state = status(engine, &rec);
    if matches!(state.status.as_str(), "running" | "paused") && !force {
        return Err(EngineError::conflict(format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            rec.id
        )));
    }
    if client::connect(engine, &rec.id).is_some() {
        if let Ok(c) = Container::load(&engine.state_root, &rec.id) {
            let _ = c.resume();
            let _ = c.kill(Signal::SIGKILL, true);
        }
        client::wait_gone(engine, &rec.id);
    }
    crate::fault::at("rm.1")?;
    leftover_cleanup(engine, &rec.id);
    crate::fault::at("rm.2")?;
    // Gone already: an `--rm` container whose monitor removed it while we waited.
    if record::remove(engine, &rec.id, &rec.name)? {
        super::events::emit(engine, &rec, "destroy", &[]);
    }
    record::sweep(engine);
    Ok(())
}

/// A runtime container or monitor dir left by a monitor that died: undo it.
fn leftover_cleanup(engine: &Engine, id: &str) {
    if let Ok(c) = Container::load(&engine.state_root, id) {
        let _ = c.delete(true);
    }
    let _ = std::fs::remove_dir_all(engine.monitor_dir(id));
}

/// Freeze or thaw a running container (the cgroup freezer); the marker file tells `status`.
pub fn pause(engine: &Engine, reference: &str, frozen: bool) -> Result<()> {
    let rec = record::find(engine, reference)?;
    let state = status(engine, &rec);
    match (frozen, state.status.as_str()) {
        (true, "running") | (false, "paused") => {}
        (true, "paused") => return Err(EngineError::conflict(format!("Container {} is already paused", rec.id))),
        (false, "running") => return Err(EngineError::conflict(format!("Container {} is not paused", rec.id))),
        _ => return Err(EngineError::conflict(format!("Container {} is not running", rec.id))),
    }
    let container = Container::load(&engine.state_root, &rec.id)?;
    let marker = engine.monitor_dir(&rec.id).join("paused");
    super::events::emit(engine, &rec, if frozen { "pause" } else { "unpause" }, &[]);
    if frozen {
        container.pause()?;
        std::fs::write(&marker, b"").map_err(|e| EngineError::io("write", &marker, e))?;
    } else {
        container.resume()?;
        let _ = std::fs::remove_file(&marker);
    }
    Ok(())
}
