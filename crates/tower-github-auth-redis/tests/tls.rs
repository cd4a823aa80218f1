//! `rediss://` with the feature `tls-rustls`, against a `redis-server` of the test's own
//! listening with TLS only, its certificate signed by a CA the test makes with the `openssl`
//! command line. Run with `cargo test -p tower-github-auth-redis --features tls-rustls --test tls`
//! (needs `redis-server` built with TLS, as Debian's is, and `openssl`).

#![cfg(unix)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};
use std::{fs, thread};

use tower_github_auth::{StoredCredential, TokenStore};
use tower_github_auth_redis::redis::{Client, TlsCertificates};
use tower_github_auth_redis::{EncryptionKey, Error, RedisTokenStore};

const KEY: &str = "installation:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|err| {
            panic!("running openssl (install it: apt-get install openssl): {err}")
        });
    assert!(status.success(), "openssl {args:?}: {status}");
}

/// A CA, and a certificate for 127.0.0.1 it signed, in `dir`.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=tgha test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
}

/// A TLS-only redis-server; killed on drop.
struct TlsRedis(Child);

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (TlsRedis, u16) {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(dir.join("server.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.crt"))
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    let server = TlsRedis(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        let log = fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "redis-server with TLS did not start:\n{log}"
        );
        // A real process starting: real time.
        thread::sleep(Duration::from_millis(10));
    }
    (server, port)
}

#[tokio::test]
async fn the_store_speaks_tls_to_rediss_urls() {
    let dir = std::env::temp_dir().join(format!("tgha-redis-tls-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let (_server, port) = start(&dir);
    let url = format!("rediss://127.0.0.1:{port}");
    let credential = StoredCredential::new(
        b"ghs_tls".to_vec(),
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        UNIX_EPOCH + Duration::from_secs(1_800_003_600),
    );

    // Trusting the test's CA: everything works, notifications included.
    let trusting = Client::build_with_tls(
        url.as_str(),
        TlsCertificates {
            client_tls: None,
            root_cert: Some(fs::read(dir.join("ca.crt")).unwrap()),
        },
    )
    .unwrap();
    let store = RedisTokenStore::builder(trusting)
        .encryption_keys([EncryptionKey::generate()])
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    store
        .save(KEY, &credential, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.load(KEY).await.unwrap(), Some(credential));
    assert!(store.notifications_connected());

    // A plain `rediss://` URL checks the certificate against the system's roots, where the
    // test's CA is not: the store is built (Redis is a help), every call fails.
    let untrusting = RedisTokenStore::builder(url.as_str())
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let err = untrusting.load(KEY).await.unwrap_err();
    assert!(err.downcast_ref::<Error>().is_some(), "{err}");
    assert!(!untrusting.notifications_connected());
    let _ = fs::remove_dir_all(&dir);
}
