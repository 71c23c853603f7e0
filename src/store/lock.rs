//! One writer per database: an OS file lock (`flock`) on `<database>-lock`, taken before
//! the database is opened or created and held for the writer's life. The kernel drops it
//! when the process exits, however it exits, so a crash never leaves a stale lock (a PID
//! file would). The file holds the holder's PID and command, for the error a second
//! writer gets; it stays after exit, like SQLite's `-shm`.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock file of the database at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut lock = path.as_os_str().to_owned();
    lock.push("-lock");
    PathBuf::from(lock)
}

/// Held while this process writes the database; released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// Takes the writer's lock on the database at `path` without waiting, recording `what`
/// (the command) beside this process's PID; refuses with the holder's PID and command
/// when another process has it.
pub fn acquire(path: &Path, what: &str) -> Result<WriterLock, StoreError> {
    let lock = lock_path(path);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(|source| StoreError::Lock { path: lock.clone(), source })?;
    if !flock(&file, libc::LOCK_EX | libc::LOCK_NB, &lock)? {
        return Err(StoreError::InUse { path: path.to_path_buf(), holder: holder(&mut file) });
    }
    // Written over the old record, then cut to length: the file is never empty while held.
    let record = format!("{} {what}\n", std::process::id());
    let written =
        file.rewind().and_then(|_| file.write_all(record.as_bytes())).and_then(|_| file.set_len(record.len() as u64));
    written.map_err(|source| StoreError::Lock { path: lock, source })?;
    Ok(WriterLock { _file: file })
}

/// The PID and command of the process writing the database at `path`, if one is.
pub fn writer(path: &Path) -> Option<String> {
    let mut file = File::open(lock_path(path)).ok()?;
    let lock = lock_path(path);
    match flock(&file, libc::LOCK_SH | libc::LOCK_NB, &lock) {
        Ok(true) => {
            // Nobody holds it: let go again at once.
            let _ = flock(&file, libc::LOCK_UN, &lock);
            None
        }
        Ok(false) => Some(holder(&mut file)),
        Err(_) => None,
    }
}

/// "pid 1234, `kabar run`", from the lock file (the holder may be writing its record
/// at this very moment: a few tries).
fn holder(file: &mut File) -> String {
    for _ in 0..10 {
        let mut text = String::new();
        let _ = file.rewind().and_then(|_| Read::by_ref(file).take(200).read_to_string(&mut text));
        if let Some((pid, what)) = text.trim().split_once(' ')
            && pid.bytes().all(|b| b.is_ascii_digit())
        {
            return format!("pid {pid}, `kabar {what}`");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    "another process".to_string()
}

/// `flock(2)` on the lock file at `path`: true when taken, false when another holder has it.
fn flock(file: &File, operation: libc::c_int, path: &Path) -> Result<bool, StoreError> {
    // SAFETY: flock on a descriptor this File owns and keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(StoreError::Lock { path: path.to_path_buf(), source: e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        assert_eq!(writer(&db), None, "no lock file, no writer");
        let first = acquire(&db, "run").unwrap();
        let holder = writer(&db).expect("a writer");
        assert_eq!(holder, format!("pid {}, `kabar run`", std::process::id()));
        // flock locks belong to the open file, so a second open in this process conflicts
        // just as another process's would.
        match acquire(&db, "fetch") {
            Err(StoreError::InUse { holder: h, .. }) => assert_eq!(h, holder),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        assert_eq!(writer(&db), None);
        let again = acquire(&db, "fetch").unwrap();
        assert!(writer(&db).unwrap().contains("`kabar fetch`"));
        drop(again);
    }
}
