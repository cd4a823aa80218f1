//! [`RedisServer`]: a throwaway `redis-server` for tests (feature `testing`), listening on a unix
//! socket in a temp dir of its own, with persistence off; stopped and removed on drop.
//!
//! ```no_run
//! use tower_github_auth_redis::RedisTokenStore;
//! use tower_github_auth_redis::testing::RedisServer;
//!
//! # async fn run() -> Result<(), tower_github_auth_redis::Error> {
//! let mut redis = RedisServer::start(); // fails (panics) when redis-server is not installed
//! let store = RedisTokenStore::builder(redis.url()).build().await?;
//! // ... use the store; stop Redis to see what the code under test does without it:
//! redis.stop();
//! // ... and start it again on the same socket (empty: nothing is persisted).
//! redis.restart();
//! # drop(store);
//! # Ok(())
//! # }
//! ```
//!
//! `redis-server` must be on `PATH`; [`RedisServer::start`] panics with how to install it
//! otherwise (a test never skips silently). `bash .ci/run test` installs it on CI machines.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{fs, thread};

/// How long a server may take to answer its first `PING`.
const STARTUP: Duration = Duration::from_secs(10);

/// What to do when `redis-server` is missing.
const INSTALL_HINT: &str = "redis-server is not installed (not found on PATH); the Redis store's \
    tests start their own: install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`; \
    macOS: `brew install redis`), or run `bash .ci/run test`, which installs it when run as root";

/// A `redis-server` process of a test, on a unix socket in its own temp dir. Stopped (killed)
/// and its dir removed on drop.
#[derive(Debug)]
pub struct RedisServer {
    dir: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not on `PATH` (the message says how to install it), or the server
    /// does not come up within 10 s (the message holds its log).
    pub fn start() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "tgha-redis-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        let socket = dir.join("redis.sock");
        let mut server = Self {
            dir,
            socket,
            child: None,
        };
        server.launch();
        server
    }

    /// The URL to connect to: `redis+unix:///.../redis.sock`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// The server's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether the server process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (as a crash would) and waits for it to end; does nothing when it is
    /// stopped already. Clients see their connections drop and new ones refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_file(&self.socket);
        }
    }

    /// Stops the server if it runs, and starts a new, empty one on the same socket (the same
    /// [`url`](Self::url)).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let log = self.dir.join("redis.log");
        let spawned = Command::new("redis-server")
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--daemonize")
            .arg("no")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(err) => panic!("starting redis-server failed: {err}"),
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            if ping(&self.socket) {
                self.child = Some(child);
                return;
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "redis-server did not answer on {} ({}); its log:\n{log}",
                    self.socket.display(),
                    exited.map_or_else(|| "timed out".to_owned(), |status| status.to_string()),
                );
            }
            // A real process starting: real time.
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether a server answers `PING` on `socket`.
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
