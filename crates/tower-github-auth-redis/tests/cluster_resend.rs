//! What the store does when the Redis Cluster client resends a command: redis-rs's cluster
//! connection sends a command again, on a new connection, when the connection it went out on
//! broke before the reply came (whether or not Redis had run it). Against a stand-in cluster
//! node (one node owning every slot, speaking just enough RESP) that runs a command and then
//! drops the connection instead of answering, which a real Redis cannot be made to do on cue.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use tower_github_auth::TokenStore as _;
use tower_github_auth_redis::{RedisTarget, RedisTokenStore};

const KEY: &str = "installation:0123456789abcdef";

/// What the stand-in node holds and saw.
#[derive(Default)]
struct State {
    /// The value of the one lock key, once a `SET ... NX` took it.
    lock: Option<Vec<u8>>,
    /// How many `SET ... NX` arrived.
    set_nx: usize,
}

/// A stand-in cluster node on a loopback port: `CLUSTER SLOTS` says it owns every slot; the
/// first `SET ... NX` takes the lock and then drops the connection without answering.
struct FakeNode {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeNode {
    fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                thread::spawn(move || serve(stream, port, &state));
            }
        });
        Self { port, state }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads one command (a RESP array of bulk strings); `None` at the end of the stream.
fn read_command(reader: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        reader.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(arg);
    }
    Some(args)
}

fn bulk(bytes: &[u8]) -> Vec<u8> {
    let mut reply = format!("${}\r\n", bytes.len()).into_bytes();
    reply.extend_from_slice(bytes);
    reply.extend_from_slice(b"\r\n");
    reply
}

fn serve(stream: TcpStream, port: u16, state: &Mutex<State>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(args) = read_command(&mut reader) {
        let name = args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        let reply = match name.as_slice() {
            b"CLUSTER" => {
                let host = bulk(b"127.0.0.1");
                let id = bulk(&[b'a'; 40]);
                let mut reply = b"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n".to_vec();
                reply.extend(host);
                reply.extend(format!(":{port}\r\n").into_bytes());
                reply.extend(id);
                reply
            }
            b"PING" => b"+PONG\r\n".to_vec(),
            b"SET" if args.iter().any(|arg| arg.eq_ignore_ascii_case(b"NX")) => {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.set_nx += 1;
                if state.lock.is_some() {
                    b"$-1\r\n".to_vec()
                } else {
                    state.lock = args.get(2).cloned();
                    // Ran it; the reply is lost with the connection.
                    return;
                }
            }
            b"GET" => {
                let state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state
                    .lock
                    .as_deref()
                    .map_or_else(|| b"$-1\r\n".to_vec(), bulk)
            }
            // No change notifications here: the store polls.
            b"SUBSCRIBE" => return,
            b"EVAL" | b"EVALSHA" => b":0\r\n".to_vec(),
            _ => b"+OK\r\n".to_vec(),
        };
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_lock_whose_reply_was_lost_and_that_was_resent_is_still_ours() {
    let node = FakeNode::start();
    let store = RedisTokenStore::builder(RedisTarget::cluster([node.url()]))
        .command_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();

    let lease = store.lock(KEY, Duration::from_secs(60)).await.unwrap();

    let state = node.state();
    assert_eq!(state.set_nx, 2, "the cluster client resent the SET NX");
    let lease = lease.expect(
        "the lock is ours: our first SET NX took it (its resend found our own lease), so no \
         other replica can take it until its TTL; answering None leaves it held by nobody",
    );
    assert_eq!(state.lock.as_deref(), Some(lease.value().as_bytes()));
}
