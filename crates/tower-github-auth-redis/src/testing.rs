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

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::DirBuilderExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::connection::{Connection, RedisTarget};
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
        let dir = temp_dir("redis");
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
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--unixsocketperm")
            .arg("700");
        let socket = self.socket.clone();
        // The socket is in a dir of this server's own: whoever answers there is this server.
        self.child = Some(spawn(command, &self.dir, "redis.log", |_| ping(&socket)));
    }
}

/// Starts `command` (a `redis-server` with its listening options) with persistence off, in
/// `dir`, logging to `dir/log`, and waits until `up` holds for its process id.
///
/// # Panics
/// As [`try_spawn`] fails.
fn spawn(command: Command, dir: &Path, log: &str, up: impl Fn(u32) -> bool) -> Child {
    try_spawn(command, dir, log, up).unwrap_or_else(|failure| panic!("{failure}"))
}

/// [`spawn`], failing with what happened and the server's log when it does not come up.
///
/// # Panics
/// When `redis-server` is not on `PATH` (how to install it).
fn try_spawn(
    mut command: Command,
    dir: &Path,
    log: &str,
    up: impl Fn(u32) -> bool,
) -> Result<Child, String> {
    let log = dir.join(log);
    let spawned = command
        .arg("--save")
        .arg("")
        .arg("--appendonly")
        .arg("no")
        .arg("--daemonize")
        .arg("no")
        .arg("--dir")
        .arg(dir)
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
        if up(child.id()) {
            return Ok(child);
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "redis-server ({}) did not answer ({}); its log:\n{log_text}",
                log.display(),
                exited.map_or_else(|| "timed out".to_owned(), |status| status.to_string()),
            ));
        }
        // A real process starting: real time.
        thread::sleep(Duration::from_millis(10));
    }
}

/// How long a cluster may take to agree on its slots (`cluster_state:ok` on every node).
const CLUSTER_FORMING: Duration = Duration::from_secs(30);

/// The slots of each of the three primaries of a [`RedisCluster`].
const SLOTS: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A Redis Cluster of three primaries for tests (feature `testing`): three
/// `redis-server --cluster-enabled yes` on free loopback ports, in a temp dir of their own,
/// persistence off, slots 0-5460, 5461-10922 and 10923-16383 assigned by
/// [`start`](Self::start). Stopped (killed) and its dir removed on drop.
///
/// ```no_run
/// use tower_github_auth_redis::RedisTokenStore;
/// use tower_github_auth_redis::testing::RedisCluster;
///
/// # async fn run() -> Result<(), tower_github_auth_redis::Error> {
/// let mut cluster = RedisCluster::start(); // panics when redis-server is not installed
/// let store = RedisTokenStore::builder(cluster.target()).build().await?;
/// cluster.stop(); // all three nodes, as a crash would
/// cluster.restart(); // the same nodes and slots again, empty
/// # drop(store);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    ports: [u16; 3],
    children: Vec<Child>,
}

impl RedisCluster {
    /// Starts three nodes, gives each its slots, introduces them to each other
    /// (`CLUSTER MEET`), and waits until every node reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server` is not on `PATH`, a node does not come up within 10 s, or the
    /// cluster does not form within 30 s.
    pub fn start() -> Self {
        let dir = temp_dir("redis-cluster");
        let (ports, children) = launch_fresh_nodes(&dir);
        let cluster = Self {
            dir,
            ports,
            children,
        };
        for (port, (first, last)) in ports.iter().zip(SLOTS) {
            Self::command(
                *port,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            );
        }
        for port in &ports[1..] {
            Self::command(
                ports[0],
                &["CLUSTER", "MEET", "127.0.0.1", &port.to_string()],
            );
        }
        cluster.wait_until_formed();
        cluster
    }

    /// The nodes' URLs: `redis://127.0.0.1:<port>`.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The cluster as a store's target: [`RedisTarget::cluster`] of [`urls`](Self::urls).
    pub fn target(&self) -> RedisTarget {
        RedisTarget::cluster(self.urls())
    }

    /// Whether the nodes run.
    pub fn is_running(&self) -> bool {
        !self.children.is_empty()
    }

    /// Kills every node (as a crash would) and waits for them to end.
    pub fn stop(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the nodes if they run, and starts them again on the same ports with their cluster
    /// configuration (the same nodes and slots), empty; waits until the cluster is formed.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
        self.wait_until_formed();
    }

    fn launch(&mut self) {
        for port in self.ports {
            self.children.push(launch_node(&self.dir, port));
        }
    }

    /// Sends `args` to the node on `port`; panics on an error.
    fn command(port: u16, args: &[&str]) -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let mut connection = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|client| client.get_connection_with_timeout(STARTUP))
            .unwrap_or_else(|err| panic!("connecting to the cluster node on {port}: {err}"));
        cmd.query(&mut connection)
            .unwrap_or_else(|err| panic!("{args:?} on the cluster node on {port}: {err}"))
    }

    fn wait_until_formed(&self) {
        let deadline = Instant::now() + CLUSTER_FORMING;
        for port in self.ports {
            loop {
                let info = Self::command(port, &["CLUSTER", "INFO"]);
                let info = match info {
                    redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    redis::Value::VerbatimString { text, .. } => text,
                    other => format!("{other:?}"),
                };
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the test cluster did not form within {CLUSTER_FORMING:?}; node {port}:\n{info}"
                );
                // Real processes gossiping: real time.
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Starts one cluster node on `port`, its files in `dir`, and waits until it answers.
///
/// # Panics
/// As [`spawn`].
fn launch_node(dir: &Path, port: u16) -> Child {
    try_launch_node(dir, port).unwrap_or_else(|failure| panic!("{failure}"))
}

/// [`launch_node`], failing (with the node's log) when it does not come up, as when another
/// process took its port (or its bus port) after [`free_port`] handed it out.
fn try_launch_node(dir: &Path, port: u16) -> Result<Child, String> {
    let mut command = Command::new("redis-server");
    command
        .arg("--port")
        .arg(port.to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--cluster-enabled")
        .arg("yes")
        .arg("--cluster-config-file")
        .arg(dir.join(format!("nodes-{port}.conf")));
    let log = format!("redis-{port}.log");
    // Over TCP, another process may answer on the port: only our node's process id counts.
    try_spawn(command, dir, &log, |pid| node_answers(port, pid))
}

/// Three fresh cluster nodes, in `dir`, on free ports: new ports when one was taken between
/// [`free_port`] and the node listening on it (other processes open ports all the while).
fn launch_fresh_nodes(dir: &Path) -> ([u16; 3], Vec<Child>) {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let mut taken = Vec::new();
        let ports = [(); 3].map(|()| {
            let port = free_port(&taken);
            taken.push(port);
            port
        });
        let mut children = Vec::new();
        let mut failure = None;
        for port in ports {
            match try_launch_node(dir, port) {
                Ok(child) => children.push(child),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let Some(failure) = failure else {
            return (ports, children);
        };
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(failure.contains("Address already in use"), "{failure}");
    }
    panic!("{ATTEMPTS} times, a port handed out as free was taken before a cluster node bound it")
}

/// A loopback port that is free, and whose cluster bus port (+10000) is free too, not among
/// `taken` nor handed out before in this process.
fn free_port(taken: &[u16]) -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let Ok(port) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
        else {
            continue;
        };
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if taken.contains(&port) || handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free loopback port pair (port, port + 10000) for a test cluster node")
}

/// A single Redis or a Redis Cluster, so that one test body runs on both.
#[derive(Debug)]
pub enum TestRedis {
    /// One `redis-server` on a unix socket.
    Single(RedisServer),
    /// Three primaries.
    Cluster(RedisCluster),
}

impl TestRedis {
    /// A [`RedisServer`].
    pub fn single() -> Self {
        Self::Single(RedisServer::start())
    }

    /// A [`RedisCluster`].
    pub fn cluster() -> Self {
        Self::Cluster(RedisCluster::start())
    }

    /// Where a store connects.
    pub fn target(&self) -> RedisTarget {
        match self {
            Self::Single(server) => RedisTarget::from(server.url()),
            Self::Cluster(cluster) => cluster.target(),
        }
    }

    /// The URL of each node (one for a single server).
    pub fn urls(&self) -> Vec<String> {
        match self {
            Self::Single(server) => vec![server.url()],
            Self::Cluster(cluster) => cluster.urls(),
        }
    }

    /// Kills the server, or every node.
    pub fn stop(&mut self) {
        match self {
            Self::Single(server) => server.stop(),
            Self::Cluster(cluster) => cluster.stop(),
        }
    }

    /// Starts it again (empty) where it was.
    ///
    /// # Panics
    /// As [`RedisServer::start`] and [`RedisCluster::start`].
    pub fn restart(&mut self) {
        match self {
            Self::Single(server) => server.restart(),
            Self::Cluster(cluster) => cluster.restart(),
        }
    }

    /// A connection of the test's own (not a store's), to look at and tamper with what the
    /// stores wrote: a command goes to the node holding its key.
    pub fn connection(&self) -> TestConnection {
        let (connection, _) = self
            .target()
            .connect(STARTUP, STARTUP)
            .unwrap_or_else(|err| panic!("a connection to the test's Redis: {err}"));
        TestConnection(connection)
    }
}

/// A connection of a test's own to a [`TestRedis`], from [`TestRedis::connection`]: pass it to
/// `redis::Cmd::query_async`.
#[derive(Clone)]
pub struct TestConnection(Connection);

impl std::fmt::Debug for TestConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestConnection")
    }
}

impl redis::aio::ConnectionLike for TestConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// A new directory of this process's own (mode 0700) under the system's temp dir.
fn temp_dir(kind: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "tgha-{kind}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    dir
}

/// Whether a server answers `PING` on `socket`.
fn ping(socket: &Path) -> bool {
    let Ok(stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    pong(stream)
}

/// Whether the server answering on 127.0.0.1:`port` is process `pid` (`INFO server`).
fn node_answers(port: u16, pid: u32) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    // A bulk string: `$<len>\r\n<len bytes>\r\n`; anything else is not a Redis of ours.
    let mut reader = std::io::BufReader::new(stream);
    let mut header = String::new();
    if std::io::BufRead::read_line(&mut reader, &mut header).is_err() {
        return false;
    }
    let Some(len) = header
        .trim_end()
        .strip_prefix('$')
        .and_then(|len| len.parse::<usize>().ok())
        .filter(|&len| len <= 64 * 1024)
    else {
        return false;
    };
    let mut info = vec![0; len];
    reader.read_exact(&mut info).is_ok()
        && String::from_utf8_lossy(&info)
            .lines()
            .any(|line| line == format!("process_id:{pid}"))
}

fn pong(mut stream: impl Read + Write) -> bool {
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    use super::{launch_node, temp_dir};

    /// A port someone else's server answers `PING` on (a port handed out as free, taken before
    /// the node bound it): the node cannot listen there, and must not be taken for up.
    #[test]
    #[should_panic(expected = "Address already in use")]
    fn a_node_whose_port_another_server_answers_on_is_not_up() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut writer = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let reply: &[u8] = if line.eq_ignore_ascii_case("PING") {
                        b"+PONG\r\n"
                    } else {
                        b"-ERR not that server\r\n"
                    };
                    if writer.write_all(reply).is_err() {
                        break;
                    }
                }
            }
        });
        let dir = temp_dir("redis-taken-port");
        let mut node = launch_node(&dir, port);
        let _ = node.kill();
        let _ = node.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
