//! `events`: a running container's resource usage and OOM kills as a stream of JSON lines, in runc's
//! format (`{"type": "stats", "id": …, "data": {…}}`), for tools that watch containers without knowing
//! cgroups. Everything comes from the container's cgroup files, read again at each tick; an `oom` event is
//! a rise of the cgroup's `oom_kill` counter since the last tick. The stream ends when the container does.

use std::io::Write;
use std::time::Duration;

use super::RuntimeError;
use super::container::Container;
use crate::cgroups::Stats;

/// One `stats` event: runc's field names, so its consumers read ours.
pub fn stats_event(id: &str, s: &Stats) -> serde_json::Value {
    serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_ns}},
            "memory": {"usage": {"usage": s.memory_usage, "max": s.memory_peak, "limit": s.memory_limit}},
            "pids": {"current": s.pids_current, "limit": s.pids_max},
            "oomKills": s.oom_kills,
            "frozen": s.frozen,
        }
    })
}

/// Write events for `container` to `out` every `interval` until it stops (or, with `once`, one stats event).
pub fn watch(container: &Container, interval: Duration, once: bool, out: &mut impl Write) -> Result<(), RuntimeError> {
    let id = &container.state.id;
    let io_err = |e| RuntimeError::io("write events to", std::path::Path::new("stdout"), e);
    let mut oom_kills = None;
    loop {
        let stats = container.stats();
        if oom_kills.is_some_and(|before| stats.oom_kills > before) {
            writeln!(out, "{}", serde_json::json!({"type": "oom", "id": id})).map_err(io_err)?;
        }
        oom_kills = Some(stats.oom_kills);
        writeln!(out, "{}", stats_event(id, &stats)).map_err(io_err)?;
        out.flush().map_err(io_err)?;
        if once || !container.alive() {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// `5s`, `500ms`, `1m` (Go's duration spelling, which runc takes), or plain seconds.
pub fn parse_interval(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_like_runcs() {
        assert_eq!(parse_interval("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_interval("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_interval("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_interval("2"), Some(Duration::from_secs(2)));
        for bad in ["", "0s", "5x", "-1s", "s"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_stats_event_has_runcs_shape() {
        let stats =
            Stats { memory_usage: Some(4096), pids_current: Some(2), cpu_usage_ns: Some(7), ..Default::default() };
        let event = stats_event("c1", &stats);
        assert_eq!(event["type"], "stats");
        assert_eq!(event["id"], "c1");
        assert_eq!(event["data"]["memory"]["usage"]["usage"], 4096);
        assert_eq!(event["data"]["pids"]["current"], 2);
        assert_eq!(event["data"]["cpu"]["usage"]["total"], 7);
    }
}
