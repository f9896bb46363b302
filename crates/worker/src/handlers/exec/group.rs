//! What an attempt holds until it ends: the command's process group, killed whole when the
//! attempt is dropped, and the attempt's private directory, removed after it.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use herald_core::Job;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tracing::warn;

/// What an attempt leaves behind until it is dropped. The fields drop in order: the group
/// is killed before its directory is removed, so nothing is still writing into it.
pub(super) struct Cleanup {
    pub(super) group: Group,
    pub(super) _scratch: Scratch,
}

/// The command's process group, sent SIGKILL when dropped unless [`Group::kill`] did already.
pub(super) struct Group {
    /// The group's id (the command's pid); `None` once killed, because after the command was
    /// reaped and its group emptied the id may be reused by an unrelated process.
    id: Option<Pid>,
}

impl Group {
    pub(super) fn of(child: &Child) -> Self {
        let id = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        Self { id }
    }

    /// Sends `signal` to every process of the group.
    pub(super) fn signal(&self, signal: Signal) {
        let Some(id) = self.id else { return };
        match killpg(id, signal) {
            // ESRCH: nobody is left in the group.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                warn!(
                    group = id.as_raw(),
                    %signal,
                    error = %e,
                    "cannot signal the command's process group"
                );
            }
        }
    }

    /// Kills whatever is left of the group, once.
    pub(super) fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        self.id = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The only cleanup that runs when the runtime drops the handler: no await here.
        self.kill();
    }
}

/// A private directory for one attempt (mode 0700, a fresh name), removed on drop.
pub(super) struct Scratch {
    path: PathBuf,
}

/// Makes directory names unique within this process.
static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    pub(super) fn create(job: &Job) -> io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        // `create` (not `create_all`) refuses a path that exists, so a directory planted in
        // the shared temp dir is never used; a few fresh names get past any collision.
        for _ in 0..8 {
            let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "herald-exec-{}-{}-{}-{n}",
                job.id,
                job.attempt,
                std::process::id()
            ));
            match builder.create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every name tried was taken",
        ))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Blocking, in a drop that may run on the runtime: unlinking a directory of one file
        // is quick, and a drop cannot await.
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(
                path = %self.path.display(),
                error = %e,
                "cannot remove the attempt's temporary directory"
            );
        }
    }
}
