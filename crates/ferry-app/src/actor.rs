//! Who runs a use case, as the ledger records it and as locks name their holder; and what
//! ferry can tell about this machine's user, host and processes.

use serde::Serialize;

/// Who runs a use case.
#[derive(Clone, Debug, Serialize)]
pub struct Actor {
    /// `alice@laptop`, `$FERRY_USER`, or a server's authenticated caller.
    pub who: String,
    /// The host the locks are held from.
    pub host: String,
    /// The process holding the locks.
    pub pid: u32,
}

impl Actor {
    /// This process: [`who`] on [`host`], with its pid (what the CLI runs as).
    pub fn this_process() -> Actor {
        Actor { who: who(), host: host(), pid: std::process::id() }
    }
}

/// Who is deploying: $FERRY_USER, else user@host.
pub fn who() -> String {
    if let Ok(user) = std::env::var("FERRY_USER")
        && !user.is_empty()
    {
        return user;
    }
    // Containers and CI runners often have no $USER: then the login name of this process's
    // uid, as the system's user database (passwd, NSS) knows it.
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| whoami::username().ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host())
}

/// This machine's host name (gethostname), else $HOSTNAME, else `localhost`.
pub fn host() -> String {
    whoami::hostname()
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process with this pid exists, ours or another user's (`kill(pid, 0)`, where
/// EPERM means it exists but is not ours to signal). A zombie counts as existing; pid 0 and
/// pids beyond the kernel's range do not exist.
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().filter(|p| *p > 0).and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_alive_tells_a_running_process_from_a_reaped_one() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid), "pid {pid} was reaped");
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn host_is_the_kernel_host_name() {
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(host(), name.trim());
        }
    }
}
