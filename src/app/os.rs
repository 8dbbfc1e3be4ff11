//! What the process asks of the operating system for a run: enough open files for its agents.

/// Raises this process's open-files limit towards `wanted`; returns the limit now in force.
/// Raising the hard limit needs privileges, so this settles for the hard limit if it must.
pub fn raise_open_files(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let current = now.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit { current: Some(wanted), maximum: Some(wanted.max(hard)) };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit { current: Some(hard.min(wanted)), maximum: Some(hard) },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}
