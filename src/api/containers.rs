//! `/containers/...`: create, list, inspect, start, stop, kill, restart, wait, rm, logs, pause, top, stats,
//! resize, attach. Each handler parses the request, runs the engine's blocking verb off the async thread,
//! and answers in docker's shape.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::body::{self, Reply, flag, param, query};
use super::router::{Req, blocking, no_content};
use crate::engine::logs::{self, Filter};
use crate::engine::record::{self, Record, RunState};
use crate::engine::{Engine, EngineError, ops, request};

pub async fn route(engine: Arc<Engine>, req: Req, segs: &[&str]) -> Result<Reply, EngineError> {
    let q = query(req.uri());
    let method = req.method().clone();
    let e = engine.clone();
    match (&method, segs) {
        (&Method::POST, ["create"]) => create(engine, req, q).await,
        (&Method::GET, ["json"]) => blocking(move || list(&e, &q)).await,
        (&Method::POST, ["prune"]) => blocking(move || prune(&e)).await,
        (&Method::GET, [id, "json"]) => {
            let id = id.to_string();
            blocking(move || inspect(&e, &id)).await
        }
        (&Method::DELETE, [id]) => {
            let (id, force) = (id.to_string(), flag(&q, "force"));
            blocking(move || ops::remove(&e, &id, force)).await.map(|()| no_content())
        }
        (&Method::POST, [id, "attach"]) => super::attach::attach(engine, req, id, &q).await,
        (&Method::POST, [id, "wait"]) => {
            wait(engine, id, param(&q, "condition").filter(|c| !c.is_empty()).unwrap_or("not-running")).await
        }
        (&Method::GET, [id, "logs"]) => logs(engine, id, &q).await,
        (&Method::POST, [id, "exec"]) => super::exec::create(engine, req, id).await,
        (_, [id, "archive"]) => archive(engine, req, id, param(&q, "path").unwrap_or("/")).await,
        (&Method::POST, [id, action]) => {
            let (id, action) = (id.to_string(), action.to_string());
            blocking(move || act(&e, &id, &action, &q)).await
        }
        (&Method::GET, [id, "top"]) => {
            let id = id.to_string();
            blocking(move || top(&e, &id)).await
        }
        (&Method::GET, [id, "stats"]) => {
            let (id, stream) = (id.to_string(), param(&q, "stream").is_none_or(|s| s == "1" || s == "true"));
            stats(engine, id, stream).await
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}

async fn create(engine: Arc<Engine>, req: Req, q: Vec<(String, String)>) -> Result<Reply, EngineError> {
    let bytes = body::read(req.into_body()).await?;
    let request = request::parse(&bytes)?;
    let name = param(&q, "name").map(str::to_string);
    let rec = blocking(move || ops::create(&engine, name.as_deref(), request)).await?;
    Ok(body::json(StatusCode::CREATED, &json!({"Id": rec.id, "Warnings": []})))
}

/// The POST verbs that answer 204 (or 304 when there was nothing to do).
fn act(engine: &Engine, id: &str, action: &str, q: &[(String, String)]) -> Result<Reply, EngineError> {
    let timeout = param(q, "t").and_then(|t| t.parse::<i64>().ok());
    let done = |changed: bool| if changed { no_content() } else { body::empty(StatusCode::NOT_MODIFIED) };
    match action {
        "start" => ops::start(engine, id).map(done),
        "stop" => ops::stop(engine, id, timeout).map(done),
        "restart" => {
            ops::stop(engine, id, timeout)?;
            ops::start(engine, id).map(|_| no_content())
        }
        "kill" => {
            let signal = ops::parse_signal(param(q, "signal").unwrap_or("KILL"))?;
            ops::kill(engine, id, signal).map(|()| no_content())
        }
        "pause" => ops::pause(engine, id, true).map(|()| no_content()),
        "unpause" => ops::pause(engine, id, false).map(|()| no_content()),
        "resize" => {
            let rec = record::find(engine, id)?;
            let (h, w) = (param(q, "h").unwrap_or("0"), param(q, "w").unwrap_or("0"));
            let (h, w) = (h.parse::<u16>().unwrap_or(0), w.parse::<u16>().unwrap_or(0));
            crate::engine::client::request(engine, &rec.id, &format!("resize {h} {w}"))?;
            Ok(body::ok(json!({})))
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}

/// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`: the Status column of `docker ps`.
fn human_status(state: &RunState) -> String {
    let ago = |t: &str| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let secs = (now.as_secs_f64() - logs::unix_time(t).unwrap_or(0.0)).max(0.0) as u64;
        match secs {
            0 => "Less than a second".to_string(),
            1..=59 => format!("{secs} seconds"),
            60..=3599 => format!("{} minutes", secs / 60),
            _ => format!("{} hours", secs / 3600),
        }
    };
    match state.status.as_str() {
        "running" => format!("Up {}", ago(&state.started_at)),
        "paused" => format!("Up {} (Paused)", ago(&state.started_at)),
        "exited" => format!("Exited ({}) {} ago", state.exit_code, ago(&state.finished_at)),
        _ => "Created".into(),
    }
}

fn command_line(rec: &Record) -> String {
    std::iter::once(rec.path.as_str()).chain(rec.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
}

/// `GET /containers/json?all=1&filters={"status":["exited"],"name":["x"],"label":["k=v"],"id":["…"]}`.
fn list(engine: &Engine, q: &[(String, String)]) -> Result<Reply, EngineError> {
    let all = flag(q, "all");
    let filters: std::collections::BTreeMap<String, Value> = match param(q, "filters") {
        Some(f) if !f.is_empty() => {
            serde_json::from_str(f).map_err(|e| EngineError::bad(format!("invalid filters {f:?}: {e}")))?
        }
        _ => Default::default(),
    };
    // A filter is a list of values, or (older clients) a map of value → true.
    let values = |key: &str| -> Vec<String> {
        match filters.get(key) {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    };
    let (status, names, ids, labels) = (values("status"), values("name"), values("id"), values("label"));
    let mut out = Vec::new();
    for rec in record::all(engine) {
        let state = ops::status(engine, &rec);
        let empty = Default::default();
        let rec_labels = rec.request.labels.as_ref().unwrap_or(&empty);
        let keep = (all || !status.is_empty() || state.status == "running" || state.status == "paused")
            && (status.is_empty() || status.contains(&state.status))
            && (names.is_empty() || names.iter().any(|n| rec.name.contains(n.trim_start_matches('/'))))
            && (ids.is_empty() || ids.iter().any(|i| rec.id.starts_with(i)))
            && labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => rec_labels.get(k).is_some_and(|x| x == v),
                None => rec_labels.contains_key(l),
            });
        if !keep {
            continue;
        }
        out.push(json!({
            "Id": rec.id,
            "Names": [format!("/{}", rec.name)],
            "Image": rec.request.image,
            "ImageID": format!("sha256:{}", rec.image_id),
            "Command": command_line(&rec),
            "Created": logs::unix_time(&rec.created).unwrap_or(0.0) as i64,
            "State": state.status,
            "Status": human_status(&state),
            "Ports": [],
            "Labels": rec_labels,
            "HostConfig": {"NetworkMode": network_mode(&rec)},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }));
    }
    Ok(body::ok(Value::Array(out)))
}

fn network_mode(rec: &Record) -> String {
    match rec.request.host_config.network_mode.as_str() {
        "" => "default".into(),
        m => m.into(),
    }
}

fn inspect(engine: &Engine, id: &str) -> Result<Reply, EngineError> {
    let rec = record::find(engine, id)?;
    let state = ops::status(engine, &rec);
    let req = &rec.request;
    let mut host_config = serde_json::to_value(&req.host_config).unwrap_or_default();
    host_config["NetworkMode"] = json!(network_mode(&rec));
    host_config["LogConfig"] = json!({"Type": "json-file", "Config": {}});
    Ok(body::ok(json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": rec.args,
        "State": {
            "Status": state.status,
            "Running": state.status == "running" || state.status == "paused",
            "Paused": state.status == "paused",
            "Restarting": false,
            "OOMKilled": state.oom_killed,
            "Dead": false,
            "Pid": state.pid,
            "ExitCode": state.exit_code,
            "Error": state.error,
            "StartedAt": state.started_at,
            "FinishedAt": state.finished_at,
            // containy's own: the result record of a run that ended (limits for untrusted code).
            "Containy": {"Result": state.result},
        },
        "Image": format!("sha256:{}", rec.image_id),
        "Name": format!("/{}", rec.name),
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "LogPath": engine.log_path(&rec.id),
        "HostConfig": host_config,
        "Config": {
            "Hostname": if req.hostname.is_empty() { rec.id[..12].to_string() } else { req.hostname.clone() },
            "Domainname": req.domainname,
            "User": req.user,
            "Tty": req.tty,
            "OpenStdin": req.open_stdin,
            "StdinOnce": req.stdin_once,
            "AttachStdin": req.attach_stdin,
            "AttachStdout": req.attach_stdout,
            "AttachStderr": req.attach_stderr,
            "Env": req.env.clone().unwrap_or_default(),
            "Cmd": req.cmd,
            "Entrypoint": req.entrypoint,
            "Image": req.image,
            "WorkingDir": req.working_dir,
            "Labels": req.labels.clone().unwrap_or_default(),
            "StopSignal": req.stop_signal,
        },
        "Mounts": [],
        "NetworkSettings": {"Networks": {}, "Ports": {}},
    })))
}

fn prune(engine: &Engine) -> Result<Reply, EngineError> {
    let mut deleted = Vec::new();
    for rec in record::all(engine) {
        if ops::status(engine, &rec).status == "exited" && ops::remove(engine, &rec.id, false).is_ok() {
            deleted.push(rec.id);
        }
    }
    Ok(body::ok(json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0})))
}

/// `wait?condition=not-running|next-exit|removed`: the answer comes when the condition holds; a client that
/// leaves stops the waiting task (the channel closes), and nothing else.
async fn wait(engine: Arc<Engine>, id: &str, condition: &str) -> Result<Reply, EngineError> {
    if !matches!(condition, "not-running" | "next-exit" | "removed") {
        return Err(EngineError::bad(format!("invalid condition: {condition:?}")));
    }
    let (condition, reference) = (condition.to_string(), id.to_string());
    let e = engine.clone();
    let rec = blocking(move || record::find(&e, &reference)).await?;
    let monitor = tokio::net::UnixStream::connect(engine.monitor_socket(&rec.id)).await.ok();
    let state = {
        let (e, r) = (engine.clone(), rec.clone());
        blocking(move || Ok(ops::status(&e, &r))).await?
    };
    if monitor.is_none() && condition != "removed" {
        return Ok(body::ok(json!({"StatusCode": state.exit_code, "Error": null})));
    }
    if condition == "not-running" && state.status == "created" {
        return Ok(body::ok(json!({"StatusCode": state.exit_code, "Error": null})));
    }
    let (tx, reply) = body::channel(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let waited = async {
            let mut code = state.exit_code;
            if let Some(mut sock) = monitor {
                sock.write_all(b"wait\n").await.ok()?;
                let mut reader = tokio::io::BufReader::new(sock);
                let mut line = String::new();
                reader.read_line(&mut line).await.ok()?;
                code = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(code);
                if condition == "removed" {
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest).await;
                }
            }
            if condition == "removed" {
                while engine.record_dir(&rec.id).exists() {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            Some(code)
        };
        tokio::select! {
            code = waited => {
                // The monitor may have gone between our connect and our request: its record has the end.
                let code = code.or_else(|| record::read_state(&engine.record_dir(&rec.id)).map(|s| s.exit_code));
                let body = json!({"StatusCode": code.unwrap_or(-1), "Error": null});
                let _ = tx.send(Bytes::from(format!("{body}\n"))).await;
            }
            _ = tx.closed() => {}
        }
    });
    Ok(reply)
}

/// `logs`: what the json-file log has (filtered), then with `follow` what comes, until the container ends.
async fn logs(engine: Arc<Engine>, id: &str, q: &[(String, String)]) -> Result<Reply, EngineError> {
    let reference = id.to_string();
    let e = engine.clone();
    let rec = blocking(move || record::find(&e, &reference)).await?;
    let time = |key: &str| param(q, key).and_then(|t| t.parse::<f64>().ok()).filter(|t| *t > 0.0);
    let filter = Filter {
        stdout: flag(q, "stdout"),
        stderr: flag(q, "stderr"),
        since: time("since"),
        until: time("until"),
        timestamps: flag(q, "timestamps"),
        tail: param(q, "tail").and_then(|t| t.parse().ok()),
    };
    let follow = flag(q, "follow");
    let tty = rec.request.tty;
    let kind = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    let (tx, reply) = body::channel(StatusCode::OK, kind);
    tokio::spawn(async move {
        let path = engine.log_path(&rec.id);
        // Kept open: a client may remove the container (and its log) before it reads what we send.
        let mut file = tokio::fs::File::open(&path).await.ok();
        let mut pending = Vec::new();
        let mut first = true;
        loop {
            // Whether it ran before reading: the last lines are in the file before the monitor is gone.
            let live = follow && engine.monitor_socket(&rec.id).exists();
            if file.is_none() {
                file = tokio::fs::File::open(&path).await.ok();
            }
            if let Some(f) = &mut file {
                let _ = f.read_to_end(&mut pending).await;
            }
            let (mut entries, used) = logs::parse(&pending);
            pending.drain(..used);
            entries.retain(|e| filter.wants(e));
            if first && let Some(n) = filter.tail {
                let skip = entries.len().saturating_sub(n);
                entries.drain(..skip);
            }
            first = false;
            for entry in &entries {
                if tx.send(Bytes::from(filter.render(entry, tty))).await.is_err() {
                    return;
                }
            }
            if !live {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(reply)
}

fn top(engine: &Engine, id: &str) -> Result<Reply, EngineError> {
    let rec = record::find(engine, id)?;
    if !matches!(ops::status(engine, &rec).status.as_str(), "running" | "paused") {
        return Err(EngineError::conflict(format!("Container {} is not running", rec.id)));
    }
    let container = crate::runtime::container::Container::load(&engine.state_root, &rec.id)?;
    let mut rows = Vec::new();
    for pid in container.pids() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat.rsplit_once(") ").and_then(|(_, r)| r.split_whitespace().nth(1)).unwrap_or("0").to_string();
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().next().unwrap_or("").to_string()))
            })
            .unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> =
            cmd.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        rows.push(json!([uid, pid.to_string(), ppid, cmd.join(" ")]));
    }
    Ok(body::ok(json!({"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": rows})))
}

/// `stats`: one sample (`stream=false`) or one per second, in docker's shape (cpu with its previous sample).
async fn stats(engine: Arc<Engine>, id: String, stream: bool) -> Result<Reply, EngineError> {
    let e = engine.clone();
    let rec = blocking(move || record::find(&e, &id)).await?;
    let sample = move |engine: &Engine, rec: &Record| -> Value {
        let stats = crate::runtime::container::Container::load(&engine.state_root, &rec.id)
            .map(|c| c.stats())
            .unwrap_or_default();
        let system = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let cpu =
                    s.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>();
                Some(cpu * 10_000_000)
            })
            .unwrap_or(0);
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        json!({
            "read": crate::clock::now_rfc3339(),
            "id": rec.id, "name": format!("/{}", rec.name),
            "pids_stats": {"current": stats.pids_current.unwrap_or(0), "limit": stats.pids_max},
            "memory_stats": {"usage": stats.memory_usage.unwrap_or(0), "max_usage": stats.memory_peak,
                "limit": stats.memory_limit.unwrap_or(u64::MAX / 2), "stats": {}},
            "cpu_stats": {"cpu_usage": {"total_usage": stats.cpu_usage_ns.unwrap_or(0)},
                "system_cpu_usage": system, "online_cpus": ncpu},
        })
    };
    let (tx, reply) = body::channel(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let mut previous = json!({"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0});
        loop {
            let (e, r) = (engine.clone(), rec.clone());
            let Ok(mut now) = tokio::task::spawn_blocking(move || sample(&e, &r)).await else { return };
            now["precpu_stats"] = previous;
            previous = now["cpu_stats"].clone();
            if tx.send(Bytes::from(format!("{now}\n"))).await.is_err() || !stream {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(reply)
}

/// `docker cp`: HEAD (stat), GET (a tar of the path), PUT (a tar unpacked into the path).
async fn archive(engine: Arc<Engine>, req: Req, id: &str, path: &str) -> Result<Reply, EngineError> {
    use crate::engine::archive;
    let (id, path) = (id.to_string(), path.to_string());
    match *req.method() {
        Method::HEAD | Method::GET => {
            let (e, i, p) = (engine.clone(), id.clone(), path.clone());
            let stat = blocking(move || archive::stat(&e, &i, &p)).await?;
            let header = archive::base64(&serde_json::to_vec(&stat).unwrap_or_default());
            let mut reply = if req.method() == Method::HEAD {
                body::empty(StatusCode::OK)
            } else {
                let (tx, reply) = body::channel(StatusCode::OK, "application/x-tar");
                tokio::task::spawn_blocking(move || {
                    let out = super::images::ChannelWriter(tx);
                    if let Err(e) = archive::get(&engine, &id, &path, std::io::BufWriter::with_capacity(1 << 16, out)) {
                        eprintln!("containy serve: cp {path}: {e}");
                    }
                });
                reply
            };
            if let Ok(value) = hyper::header::HeaderValue::from_str(&header) {
                reply.headers_mut().insert("x-docker-container-path-stat", value);
            }
            Ok(reply)
        }
        Method::PUT => {
            let bytes = super::images::read_to_file(&engine, req).await?;
            blocking(move || {
                let file = std::fs::File::open(&bytes.path).map_err(|e| EngineError::io("open", &bytes.path, e))?;
                archive::put(&engine, &id, &path, std::io::BufReader::new(file))
            })
            .await?;
            Ok(body::empty(StatusCode::OK))
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}
