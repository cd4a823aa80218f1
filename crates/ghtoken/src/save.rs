//! Handing over a token set GitHub issued once (`refresh`, `device`) so that it is never lost.
//!
//! `refresh` has spent the old refresh token by the time it has the new pair: if the pair then
//! went nowhere, the user would have to sign in again. So the pair goes, in this order:
//!
//! 1. with `--out FILE`: into FILE, written whole or not at all (a temporary file beside it,
//!    mode 0600, synced, then renamed over FILE). The temporary file is created before GitHub
//!    is asked, so a FILE that cannot be written stops the command while the old refresh token
//!    still works;
//! 2. without `--out`: on stdout;
//! 3. when that write fails (a closed pipe, a full disk), or stdout is `/dev/null` (where a
//!    closed stdout points too), or the pair must not be printed (its mask cannot be written, a
//!    token has characters a token never has): into a new file of its own, mode 0600,
//!    in `$XDG_STATE_HOME/ghtoken/` (else `~/.local/state/ghtoken/`, else the temporary
//!    directory), named on stderr, and the command fails saying so. Only when
//!    that fails too is the pair lost, and the error says to sign in again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::errors::CliError;

/// Where a token set goes: stdout, or `--out FILE` through a temporary file made beforehand.
#[derive(Debug)]
pub(crate) struct Destination {
    out: Option<Prepared>,
}

/// `--out FILE` and its temporary file, removed again unless it was renamed over FILE.
#[derive(Debug)]
struct Prepared {
    target: PathBuf,
    temporary: PathBuf,
    file: Option<File>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Creates `path` for writing only if it does not exist, readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl Destination {
    /// Stdout, or `out` when given: then its temporary file is created now, before GitHub is
    /// asked for anything, so that a place that cannot be written fails first.
    pub(crate) fn prepare(out: Option<PathBuf>) -> Result<Self, CliError> {
        let Some(target) = out else {
            return Ok(Self { out: None });
        };
        // A directory (or `NAME/`) cannot be renamed over: found now, not after GitHub answered.
        let names_a_directory = target.as_os_str().as_encoded_bytes().ends_with(b"/")
            || std::fs::metadata(&target).is_ok_and(|metadata| metadata.is_dir());
        let name = target
            .file_name()
            .filter(|_| !names_a_directory)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--out `{}` names a directory, not a file; nothing was sent to GitHub",
                    target.display()
                ))
            })?
            .to_string_lossy()
            .into_owned();
        let temporary = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = create_private(&temporary).map_err(|error| {
            CliError::other(format!(
                "cannot write beside --out `{}` ({error}); nothing was sent to GitHub",
                target.display()
            ))
        })?;
        Ok(Self {
            out: Some(Prepared {
                target,
                temporary,
                file: Some(file),
            }),
        })
    }

    /// Whether the content goes to a file (`--out`) rather than stdout.
    pub(crate) fn is_file(&self) -> bool {
        self.out.is_some()
    }

    /// Writes `text` (a JSON document) where it was asked to go, else saves it in a file of its
    /// own and fails naming that file. `what` names the content in messages.
    pub(crate) fn deliver(self, text: &str, what: &str) -> Result<(), CliError> {
        let written = if let Some(mut prepared) = self.out {
            let result = write_prepared(&mut prepared, text);
            result.map(|()| Some(prepared.target.clone()))
        } else if crate::show::is_dev_null(&std::io::stdout()) {
            Err(std::io::Error::other(
                "stdout is /dev/null, or was closed (the runtime then opens /dev/null there)",
            ))
        } else {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{text}")
                .and_then(|()| stdout.flush())
                .map(|()| None)
        };
        match written {
            Ok(Some(target)) => {
                crate::show::say(&format!("Saved {what} in {}.", target.display()));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(Self::keep_aside(
                Self { out: None },
                text,
                what,
                CliError::other(format!("could not write {what} ({error})")),
            )),
        }
    }

    /// Does not deliver `text`, because of `cause`: saves it in a file of its own instead (the
    /// temporary file of `--out` is removed), and returns `cause` saying where it is.
    pub(crate) fn keep_aside(self, text: &str, what: &str, cause: CliError) -> CliError {
        drop(self);
        match save_aside(text) {
            Ok(path) => cause.add(&format!(
                "{what} is saved in {} (readable by you only): move it to where you keep it, \
                 then delete that file",
                path.display()
            )),
            Err((path, second)) => cause.add(&format!(
                "{what} could not be saved in {} either ({second}): it is lost; sign in again \
                 (ghtoken device)",
                path.display()
            )),
        }
    }
}

/// Writes `text` into the temporary file, syncs it and renames it over the target.
fn write_prepared(prepared: &mut Prepared, text: &str) -> std::io::Result<()> {
    let mut file = prepared
        .file
        .take()
        .ok_or_else(|| std::io::Error::other("the temporary file is gone"))?;
    let result = writeln!(file, "{text}")
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&prepared.temporary, &prepared.target));
    if result.is_err() {
        // Put it back so that dropping `prepared` removes the temporary file.
        prepared.file = Some(file);
    } else {
        sync_directory_of(&prepared.target);
    }
    result
}

/// Makes a new name in the directory of `path` durable (the rename over `--out`, a new file
/// aside), so that a crash does not bring back the file that held the spent refresh token. Best
/// effort: the file itself is synced already, and some file systems cannot sync a directory.
fn sync_directory_of(path: &Path) {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(directory) = File::open(directory) {
        let _ = directory.sync_all();
    }
}

/// The directory for a token set that could not be written where it was meant to go.
fn aside_directory() -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    from_env("XDG_STATE_HOME")
        .or_else(|| from_env("HOME").map(|home| home.join(".local").join("state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("ghtoken")
}

/// Saves `text` in a new file, mode 0600, in [`aside_directory`]: its path, or the path tried
/// and why it failed.
fn save_aside(text: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    save_aside_in(&aside_directory(), text)
}

/// [`save_aside`] into `directory`.
fn save_aside_in(directory: &Path, text: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let directory = directory.to_path_buf();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(&directory)
        .map_err(|error| (directory.clone(), error))?;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // A name nobody can take beforehand (the directory may be the shared temporary one), and
    // another one when it is taken all the same: the pair must land somewhere.
    let mut attempt = 0u8;
    let (path, mut file) = loop {
        let mut bytes = [0u8; 8];
        let random = aws_lc_rs::rand::fill(&mut bytes)
            .map_or(u64::from(attempt), |()| u64::from_be_bytes(bytes));
        let path = directory.join(format!(
            "tokens-{seconds}-{}-{random:016x}.json",
            std::process::id()
        ));
        match create_private(&path) {
            Ok(file) => break (path, file),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(error) => return Err((path, error)),
        }
    };
    writeln!(file, "{text}")
        .and_then(|()| file.sync_all())
        .map_err(|error| (path.clone(), error))?;
    sync_directory_of(&path);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::Destination;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ghtoken-save-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn out_is_replaced_whole_and_private() {
        let dir = scratch("out");
        let target = dir.join("tokens.json");
        std::fs::write(&target, "old").expect("old");
        let destination = Destination::prepare(Some(target.clone())).expect("prepare");
        destination
            .deliver("{\"a\":1}", "the pair")
            .expect("deliver");
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            "{\"a\":1}\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the target is left: no temporary file.
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_out_fails_before_anything_is_asked() {
        let dir = scratch("missing");
        let target = dir.join("no-such-directory").join("tokens.json");
        let error = Destination::prepare(Some(target)).expect_err("no directory");
        assert!(error.to_string().contains("nothing was sent"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Two pairs saved aside by one process within a second (or a name taken by someone else)
    /// still both land in files of their own.
    #[test]
    fn pairs_saved_aside_never_collide() {
        let dir = scratch("aside");
        let first = super::save_aside_in(&dir, "{\"a\":1}").expect("first");
        let second = super::save_aside_in(&dir, "{\"a\":2}").expect("second");
        assert_ne!(first, second);
        assert_eq!(
            std::fs::read_to_string(&first).expect("first"),
            "{\"a\":1}\n"
        );
        assert_eq!(
            std::fs::read_to_string(&second).expect("second"),
            "{\"a\":2}\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_prepared_out_not_delivered_leaves_nothing() {
        let dir = scratch("dropped");
        let destination = Destination::prepare(Some(dir.join("tokens.json"))).expect("prepare");
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 1);
        drop(destination);
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
