//! Reading and writing files safely: every file fastnn reads goes through
//! [`open_regular`] or [`read_bounded`], every file it writes through
//! [`write_atomically`].
//!
//! **Writing.** A new or regular target gets its bytes in a temporary file
//! created exclusively (`O_EXCL`, so a planted symlink is never followed)
//! under an unpredictable name in the target's folder; it is synced,
//! renamed over the target and the folder is synced, so a reader sees the
//! old file or the whole new one, never a partial one. On an error the
//! temporary file is removed; on Ctrl-C or SIGTERM a program calls
//! [`remove_temp_files`]; the temporary files of a killed process (their
//! names carry its PID) are removed by the next write into that folder. A
//! target that is not a regular file is never replaced: a FIFO or a
//! character device (`/dev/null`, a pipe, a terminal) and whatever an open
//! file descriptor's name (`/dev/stdout`, `/dev/fd/N`, `/proc/…/fd/N`)
//! leads to is written in place (appending, never truncating); a FIFO with
//! no reader, a block device, a socket or a folder is refused. A
//! symlink is followed: the file it names is replaced (a dangling one is
//! refused).
//!
//! **Reading.** Only regular files are read: a FIFO is opened without
//! blocking and refused, and so is a device, so `/dev/zero` or a FIFO named
//! as an input can neither exhaust memory nor hang. Sizes are checked
//! against the caller's cap before anything is allocated.

use std::fs::{File, Metadata};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Error, Result};

/// What a path names, for reading and writing decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Missing,
    Regular,
    Dir,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl Kind {
    fn of(meta: &Metadata) -> Kind {
        let t = meta.file_type();
        if t.is_file() {
            return Kind::Regular;
        }
        if t.is_dir() {
            return Kind::Dir;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                return Kind::Fifo;
            }
            if t.is_char_device() {
                return Kind::CharDevice;
            }
            if t.is_block_device() {
                return Kind::BlockDevice;
            }
            if t.is_socket() {
                return Kind::Socket;
            }
        }
        Kind::Other
    }

    /// What the path is, following symlinks (`Missing` if nothing is there).
    fn at(path: &Path) -> Result<Kind> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Kind::of(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kind::Missing),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Regular => "a regular file",
            Kind::Dir => "a folder",
            Kind::Fifo => "a FIFO",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Socket => "a socket",
            Kind::Other => "not a regular file",
        }
    }
}

/// Opens `path` for reading if it is a regular file (following symlinks):
/// a FIFO is opened without blocking, then refused like a device or a
/// folder, with one line saying what it is.
pub(crate) fn open_regular(path: &Path) -> Result<File> {
    let file = open_read_nonblocking(path)?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    match Kind::of(&meta) {
        Kind::Regular => Ok(file),
        kind => Err(Error::invalid(
            path,
            format!("is {}, not a regular file", kind.name()),
        )),
    }
}

#[cfg(unix)]
fn open_read_nonblocking(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty())
        .map(File::from)
        .map_err(|e| Error::io(path, e.into()))
}

#[cfg(not(unix))]
fn open_read_nonblocking(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, e))
}

/// The whole of the regular file `path`, refused (before reading) if it
/// holds more than `max` bytes; `what` names the kind of file in that
/// error ("a model", "a classes.txt").
pub(crate) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let too_big = |len: u64| {
        Error::invalid(
            path,
            format!("is {len} bytes; {what} may hold at most {max} (a limit of fastnn)"),
        )
    };
    if len > max {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // One byte more than allowed, in case the file grows meanwhile.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Where a write goes once the target is known.
enum Target {
    /// Replace this regular (or missing) file atomically.
    Replace(PathBuf),
    /// Write into this FIFO, device or `/dev`/`/proc` file in place.
    InPlace(PathBuf),
}

/// Decides how to write `path` (see the module docs), refusing what must
/// not be written.
fn target(path: &Path) -> Result<Target> {
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(Error::invalid(path, "is not a file name"));
    }
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let kind = Kind::at(path)?;
    if is_link && kind == Kind::Missing {
        return Err(Error::invalid(
            path,
            "is a symlink to nothing; refusing to write through it",
        ));
    }
    // Names of an open file descriptor (`/dev/stdout`, `/dev/fd/3`,
    // `/proc/self/fd/1`): whatever they lead to is written in place, so
    // that `--json /dev/stdout > out.txt` appends to out.txt.
    let descriptor = ["/dev/stdout", "/dev/stderr"]
        .iter()
        .any(|d| path == Path::new(d))
        || path.starts_with("/dev/fd")
        || path.starts_with("/proc");
    match kind {
        Kind::Regular if descriptor => Ok(Target::InPlace(path.into())),
        Kind::Fifo | Kind::CharDevice => Ok(Target::InPlace(path.into())),
        Kind::Regular if is_link => {
            let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            Ok(Target::Replace(real))
        }
        Kind::Regular | Kind::Missing => Ok(Target::Replace(path.into())),
        kind => Err(Error::invalid(
            path,
            format!("is {}; refusing to write over it", kind.name()),
        )),
    }
}

/// The folder a file at `path` is created in, checked to exist.
fn parent_dir(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match Kind::at(&dir)? {
        Kind::Dir => Ok(dir),
        Kind::Missing => Err(Error::invalid(
            path,
            format!(
                "cannot be written: its folder {} does not exist",
                dir.display()
            ),
        )),
        kind => Err(Error::invalid(
            path,
            format!("cannot be written: {} is {}", dir.display(), kind.name()),
        )),
    }
}

/// Checks now, before any work, that [`write_atomically`] could write
/// `path`: its folder exists and takes new files, and the target is not
/// something that must not be replaced. Creates nothing that stays.
pub(crate) fn check_output(path: &Path) -> Result<()> {
    match target(path)? {
        Target::InPlace(_) => Ok(()),
        Target::Replace(real) => {
            let dir = parent_dir(&real)?;
            temp_in(&dir, &real).map(drop)
        }
    }
}

/// Creates the folder `dir` if needed (with its parents) and checks that
/// it takes new files, before any work is done.
pub(crate) fn prepare_output_dir(dir: &Path) -> Result<()> {
    match Kind::at(dir)? {
        Kind::Dir | Kind::Missing => {}
        kind => {
            return Err(Error::invalid(
                dir,
                format!("is {}, not a folder", kind.name()),
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    temp_in(dir, dir).map(drop)
}

/// Writes what `write` produces to `path` (see the module docs). Errors
/// name `path`.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let real = match target(path)? {
        Target::InPlace(p) => return write_in_place(&p, write),
        Target::Replace(real) => real,
    };
    let dir = parent_dir(&real)?;
    remove_stale_temp_files(&dir);
    let tmp = temp_in(&dir, path)?;
    let live = LiveTemp::register(tmp.path());
    let mut out = BufWriter::with_capacity(1 << 16, tmp);
    write(&mut out)?;
    let tmp = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(&real).map_err(|e| Error::io(path, e.error))?;
    drop(live);
    sync_dir(&dir);
    Ok(())
}

/// [`write_atomically`] of bytes already in memory.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// Prefix of every temporary file fastnn creates; the PID after it tells
/// which process it belongs to.
const TEMP_PREFIX: &str = ".fastnn-tmp-";

/// A temporary file in `dir` for writing `path`, named
/// `.fastnn-tmp-<pid>-<random>`.
/// Its permissions are those of the file it replaces, or, for a new file,
/// what the process's umask leaves of `rw-rw-rw-`, as for any file a
/// program creates (not the `rw-------` of a bare temporary file).
fn temp_in(dir: &Path, path: &Path) -> Result<tempfile::NamedTempFile> {
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0o666, |m| m.permissions().mode() & 0o7777);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    builder.tempfile_in(dir).map_err(|e| Error::io(path, e))
}

/// Writes into a FIFO, device or `/dev`/`/proc` path as it is: opened
/// without blocking (a FIFO with no reader is an error, not a hang), for
/// appending, never truncated or replaced.
fn write_in_place(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let file = open_write_in_place(path)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    out.flush().map_err(|e| Error::io(path, e))
}

#[cfg(unix)]
fn open_write_in_place(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| {
        if e == rustix::io::Errno::NXIO {
            Error::invalid(path, "is a FIFO that nobody reads")
        } else {
            Error::io(path, e.into())
        }
    })?;
    // Blocking writes from here on: a slow reader is waited for.
    rustix::fs::fcntl_setfl(&fd, OFlags::WRONLY | OFlags::APPEND)
        .map_err(|e| Error::io(path, e.into()))?;
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open_write_in_place(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Makes a rename in `dir` durable. Best effort: some file systems refuse
/// to sync a folder, and the file itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The temporary files being written right now, for [`remove_temp_files`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file listed in [`LIVE`] while it exists.
struct LiveTemp(PathBuf);

impl LiveTemp {
    fn register(path: &Path) -> LiveTemp {
        if let Ok(mut live) = LIVE.lock() {
            live.push(path.to_path_buf());
        }
        LiveTemp(path.to_path_buf())
    }
}

impl Drop for LiveTemp {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.0);
        }
    }
}

/// Removes the temporary files of writes still in progress: for a signal
/// handler (Ctrl-C, SIGTERM) that then ends the process, so that an
/// interrupted save leaves nothing behind. The targets are untouched.
pub fn remove_temp_files() {
    remove_listed(|_| true);
}

/// Removes the listed temporary files that `which` selects.
fn remove_listed(which: impl Fn(&Path) -> bool) {
    let live = match LIVE.lock() {
        Ok(live) => live.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for path in live.iter().filter(|p| which(p)) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes from `dir` the temporary files of processes that no longer run
/// (killed while writing): names `.fastnn-tmp-<pid>-…` whose PID is not
/// alive and which belong to this user. Best effort.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) && owned_by_me(&entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` exists (unknown: assumed alive).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return true;
        };
        rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Whether `path` (not followed if a symlink) belongs to this process's
/// user.
fn owned_by_me(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Whether `dir` is a folder only this user can write (owned by the
/// effective user, not writable by group or others): where fastnn trusts
/// the cache files it finds.
pub(crate) fn private_dir(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).is_ok_and(|m| {
            m.is_dir() && m.uid() == rustix::process::geteuid().as_raw() && m.mode() & 0o022 == 0
        })
    }
    #[cfg(not(unix))]
    {
        dir.is_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_whole_files_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_bytes(&path, b"first").unwrap();
        write_bytes(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        write_bytes(&path, b"good").unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::invalid(&path, "boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        assert_eq!(names(dir.path()), ["b.bin"]);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_usual_permissions_and_replaced_ones_keep_theirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = dir.path().join("new.bin");
        write_bytes(&new, b"x").unwrap();
        // rw-rw-rw- less the umask: readable by others unless the umask says no.
        assert_eq!(mode(&new) & 0o600, 0o600);
        assert_ne!(mode(&new), 0o600, "a bare temporary file's mode");
        let old = dir.path().join("old.bin");
        std::fs::write(&old, b"o").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes(&old, b"n").unwrap();
        assert_eq!(mode(&old), 0o640);
    }

    #[test]
    fn temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // No process has PID 4194304 + 7 (above Linux's pid_max).
        let stale = dir.path().join(format!("{TEMP_PREFIX}4194311-abc"));
        std::fs::write(&stale, b"left by a killed run").unwrap();
        let mine = dir
            .path()
            .join(format!("{TEMP_PREFIX}{}-xyz", std::process::id()));
        std::fs::write(&mine, b"in progress").unwrap();
        write_bytes(&dir.path().join("c.bin"), b"x").unwrap();
        assert!(!stale.exists());
        assert!(mine.exists(), "this process's own files are left alone");
    }

    #[test]
    fn a_live_write_is_listed_and_removable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.bin");
        write_atomically(&path, |w| {
            assert_eq!(names(dir.path()).len(), 1, "the temporary file");
            // Only this test's: other tests write at the same time.
            remove_listed(|p| p.starts_with(dir.path()));
            assert!(names(dir.path()).is_empty());
            w.write_all(b"x").map_err(|e| Error::io(&path, e))
        })
        .unwrap_err();
        assert!(!path.exists());
    }
}
