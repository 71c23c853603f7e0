//! Measuring one run of a command (wall, CPU, peak RSS) and the median of several.

use crate::prelude::*;

/// One run of a command: wall time, CPU time (user + system), peak RSS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) peak_kib: u64,
}

/// Runs `cmd` to completion and measures it with wait4's resource usage. Its stderr goes to a
/// temporary file (a pipe could fill up and stall the child), shown if the command fails.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also returns its rusage")]
pub(crate) fn measure(mut cmd: Command) -> Run {
    let mut log = tempfile::tempfile().expect("a temporary file for stderr");
    // A child's peak RSS starts at the RSS of the process it was forked from, or, spawned
    // with vfork (what std does when it can), at this harness's own peak (40 MiB after
    // generating a corpus). Forking from a trimmed heap keeps that floor at a few MiB.
    // SAFETY: malloc_trim only returns free memory to the system; the pre_exec hook
    // does nothing (it is there to make std fork instead of vfork).
    unsafe {
        libc::malloc_trim(0);
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || Ok(()));
    }
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log.try_clone().expect("clone the stderr file"))
        .spawn()
        .expect("start the command");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        use std::io::{Read, Seek};
        let mut err = String::new();
        let _ = log.rewind().and_then(|()| log.read_to_string(&mut err));
        panic!("{cmd:?} failed ({status}): {err}");
    }
    Run { wall, cpu: tv(usage.ru_utime) + tv(usage.ru_stime), peak_kib: usage.ru_maxrss as u64 }
}

pub(crate) fn median(runs: &[Run]) -> Run {
    let pick = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.peak_kib).collect();
    peaks.sort();
    Run {
        wall: pick(runs.iter().map(|r| r.wall).collect()),
        cpu: pick(runs.iter().map(|r| r.cpu).collect()),
        peak_kib: peaks[peaks.len() / 2],
    }
}

/// Sends `sig` to our own child.
pub(crate) fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child we have not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}
