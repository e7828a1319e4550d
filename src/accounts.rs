//! The host's users and groups, read from `/etc/passwd` and `/etc/group` themselves.
//!
//! glibc answers `getpwuid`/`getgrnam` through NSS, which loads the modules `/etc/nsswitch.conf` names
//! (`systemd`, `ldap`, …) as shared libraries. The release binary is linked statically, and a static binary
//! cannot load them: glibc's static `dlopen` brings in a second libc, and the lookup crashes (seen:
//! `_nss_systemd_is_blocked`, for a group that is not in `/etc/group`). So containy asks the files, as
//! `newuidmap` and `/etc/subuid` do — they name local accounts. An account only a network directory knows is
//! not found, and each caller says what it does then (match `/etc/subuid` by uid, use `$HOME`, skip the
//! socket's group).

/// One `/etc/passwd` entry, the fields containy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub home: std::path::PathBuf,
}

/// The user with id `uid` in `/etc/passwd`.
pub fn user_by_uid(uid: u32) -> Option<User> {
    parse_users(&std::fs::read_to_string("/etc/passwd").ok()?).find(|u| u.uid == uid)
}

/// The id of the group called `name` in `/etc/group`.
pub fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 3 && f[0] == name)?[2].parse().ok()
}

/// `name:password:uid:gid:gecos:home:shell` lines; malformed ones and comments are skipped.
fn parse_users(text: &str) -> impl Iterator<Item = User> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].is_empty() || f[0].starts_with('#') {
            return None;
        }
        Some(User { name: f[0].to_string(), uid: f[2].parse().ok()?, home: f[5].into() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_and_bad_ones_are_skipped() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# note\nbroken:x:nan:0::/:/bin/sh\nshort:x:5\n\
                    alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n";
        let users: Vec<User> = parse_users(text).collect();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1], User { name: "alice".into(), uid: 1000, home: "/home/alice".into() });
    }

    #[test]
    fn this_hosts_root_is_found() {
        assert_eq!(user_by_uid(0).map(|u| u.name).as_deref(), Some("root"));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-containy-test"), None);
    }

    /// The mechanism, not the example: no module may ask NSS (the static release build would crash there).
    #[test]
    fn nothing_else_looks_accounts_up_through_nss() {
        let forbidden = [
            "User::from_uid(",
            "User::from_name(",
            "Group::from_gid(",
            "Group::from_name(",
            "getpwnam",
            "getpwuid",
            "getgrnam",
            "getgrgid",
        ];
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("accounts.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.extend(
                        forbidden.iter().filter(|f| text.contains(*f)).map(|f| format!("{}: {f}", path.display())),
                    );
                }
            }
        }
        assert!(found.is_empty(), "NSS lookups outside src/accounts.rs: {found:#?}");
    }
}
