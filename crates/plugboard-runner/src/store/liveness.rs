//! Whether a process named in the state file is still alive: what lets a refresh lease or a
//! rate-limit slot left by a killed process be reclaimed at once instead of after it lapses.
//! Only a process of our own machine and pid namespace can be judged; anything uncertain counts
//! as alive.

/// This process's view of "the same machine" for lease holders: the host name and, on Linux,
/// the boot id and the pid namespace, so processes compare pids only when they share one
/// process table. (Containers on one kernel share the boot id but not the pid namespace, and
/// may share a host name; a host name alone would let one declare the other's live process
/// dead.) Computed once per process.
pub fn local_host_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let mut id = host_name().unwrap_or_else(|| "unknown-host".to_owned());
        id.retain(|c| c != '/');
        #[cfg(target_os = "linux")]
        {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
            let pidns = std::fs::read_link("/proc/self/ns/pid");
            if let (Ok(boot), Ok(pidns)) = (boot, pidns) {
                id = format!("{id}/{}/{}", boot.trim(), pidns.display());
            }
        }
        id
    })
}

/// Whether process `pid` of machine `host` (a [`local_host_id`]) is provably gone, as seen from
/// this process: only answerable for our own machine and pid namespace.
pub fn process_is_provably_dead(pid: u32, host: &str) -> bool {
    host == local_host_id() && process_is_gone(pid)
}

#[cfg(unix)]
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call, and
    // gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(not(unix))]
fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok().filter(|n| !n.is_empty())
}

/// Whether process `pid` of our process table is provably gone: `kill(pid, 0)` says ESRCH (no
/// such process), or it is a zombie (killed, not yet reaped by its parent). EPERM means it
/// exists under another user: alive.
#[cfg(unix)]
fn process_is_gone(pid: u32) -> bool {
    // 0 and negative pids name process groups, not a process.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing: kill only checks that `pid` exists and could be signalled.
    // It takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return is_zombie(pid);
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// A zombie has exited; only its exit status waits for the parent. `/proc/<pid>/stat` reads
/// `pid (comm) S …`, where the state `S` follows the last `)` (comm may hold anything).
#[cfg(target_os = "linux")]
fn is_zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X'))
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: libc::pid_t) -> bool {
    false
}

#[cfg(not(unix))]
fn process_is_gone(_pid: u32) -> bool {
    false
}
