//! The clients measured side by side, built as their users build them.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use octocrab::Octocrab;
use tower::{Layer, ServiceExt};
use tower_github_auth::{AuthService, InstallationId, Minted};
use tower_github_auth_octocrab::{copy_octo_body, octocrab_with};

use crate::error::{BenchError, describe_octocrab, describe_ours, first_line};
use crate::github::{APP, Github, HyperClient, INSTALLATION, hyper_client};

/// What every workload requests: a repository of the installation (about 5 KiB of JSON).
pub const PATH: &str = "/repos/octo/one";

/// One of the clients measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// tower-github-auth: `AppInstallationAuth` over a hyper-util client.
    Ours,
    /// octocrab 0.54 with its own App installation auth, one installation client shared by
    /// every task (an `Arc`).
    Octocrab,
    /// The same, but each task gets a `.clone()` of the installation client. octocrab copies
    /// the cached token into the clone: clones made before the first exchange each mint their
    /// own.
    OctocrabCloned,
    /// octocrab as the HTTP layer, tower-github-auth's `AppInstallationAuth` inside it
    /// (`tower_github_auth_octocrab::octocrab_with`: `AuthState::None`, no octocrab base URI).
    OctocrabWithOurLayer,
    /// The floor: a hyper-util client sending a fixed `Authorization` (a token minted once, up
    /// front) and the same other headers. What any authentication costs on top of HTTP.
    Floor,
}

impl Peer {
    /// Every client, in the order of the table's columns.
    pub const ALL: [Self; 5] = [
        Self::Ours,
        Self::Octocrab,
        Self::OctocrabCloned,
        Self::OctocrabWithOurLayer,
        Self::Floor,
    ];

    /// The column heading.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ours => "tower-github-auth",
            Self::Octocrab => "octocrab (shared)",
            Self::OctocrabCloned => "octocrab (clone per task)",
            Self::OctocrabWithOurLayer => "octocrab + our layer",
            Self::Floor => "floor (fixed header)",
        }
    }
}

/// Why one request failed: a client error, or an answer other than 2xx (`kind` is then
/// `HTTP <status>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The error's first line, or `HTTP <status>`.
    pub kind: String,
}

impl Failure {
    fn status(status: StatusCode) -> Self {
        Self {
            kind: format!("HTTP {}", status.as_u16()),
        }
    }

    fn error(text: &str) -> Self {
        Self {
            kind: first_line(text),
        }
    }
}

type Ours = AuthService<HyperClient<Full<Bytes>>, Minted>;

/// A request as the floor sends it: the emulator's URL, and the headers tower-github-auth sends
/// (`User-Agent`, `Accept`, `X-GitHub-Api-Version`), with the fixed `Authorization`.
#[derive(Clone)]
struct Floor {
    client: HyperClient<Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
}

/// What one task holds to send its requests.
#[derive(Clone)]
enum Handle {
    Ours(Ours),
    Shared(Arc<Octocrab>),
    Octocrab(Octocrab),
    Floor(Floor),
}

/// One client value, built once and reused for every request of a workload (one connection
/// pool, one token cache).
pub struct Client {
    peer: Peer,
    handle: Handle,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds `peer` against `github`, with a cold cache (nothing minted yet). Call it inside the
    /// tokio runtime: octocrab spawns its service's worker there.
    pub fn build(peer: Peer, github: &Github) -> Result<Self, BenchError> {
        let base = github.base_url();
        let handle = match peer {
            Peer::Ours => {
                let auth = crate::github::app(base)?.as_installation(InstallationId(INSTALLATION));
                Handle::Ours(auth.layer(hyper_client()))
            }
            Peer::Octocrab => Handle::Shared(Arc::new(octocrab_installation(base)?)),
            Peer::OctocrabCloned => Handle::Octocrab(octocrab_installation(base)?),
            Peer::OctocrabWithOurLayer => Handle::Octocrab(octocrab_with_our_layer(base)?),
            Peer::Floor => Handle::Floor(floor(github)?),
        };
        Ok(Self { peer, handle })
    }

    /// Which client this is.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// What one task holds: the same client (a cheap clone sharing its pool and cache), except
    /// for [`Peer::OctocrabCloned`], where it is octocrab's `.clone()` of the installation client,
    /// with a copy of the token cached at that moment.
    pub fn caller(&self) -> Caller {
        Caller {
            handle: self.handle.clone(),
        }
    }
}

/// A task's handle on a [`Client`]: sends [`PATH`] and reads the whole answer.
#[derive(Clone)]
pub struct Caller {
    handle: Handle,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller").finish_non_exhaustive()
    }
}

impl Caller {
    /// `GET` [`PATH`], the answer's body read to the end. A failure is a client error or an
    /// answer other than 2xx.
    pub async fn get(&self) -> Result<(), Failure> {
        match &self.handle {
            Handle::Ours(service) => {
                let request = Request::get(PATH)
                    .body(Full::default())
                    .map_err(|e| Failure::error(&e.to_string()))?;
                let response = service
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|e| Failure::error(&describe_ours(&e)))?;
                read(response).await
            }
            Handle::Shared(octo) => octocrab_get(octo).await,
            Handle::Octocrab(octo) => octocrab_get(octo).await,
            Handle::Floor(floor) => {
                let mut request = Request::get(floor.uri.clone())
                    .body(Full::default())
                    .map_err(|e| Failure::error(&e.to_string()))?;
                *request.headers_mut() = floor.headers.clone();
                let response = floor
                    .client
                    .request(request)
                    .await
                    .map_err(|e| Failure::error(&e.to_string()))?;
                read(response).await
            }
        }
    }
}

/// The status checked, the body read to the end.
async fn read<B>(response: http::Response<B>) -> Result<(), Failure>
where
    B: http_body::Body,
    B::Error: fmt::Display,
{
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::error(&e.to_string()))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::status(status))
    }
}

async fn octocrab_get(octo: &Octocrab) -> Result<(), Failure> {
    let response = octo
        ._get(PATH)
        .await
        .map_err(|e| Failure::error(&describe_octocrab(&e)))?;
    read(response).await
}

/// octocrab's own App installation auth, configured as its documentation shows.
fn octocrab_installation(base: &str) -> Result<Octocrab, BenchError> {
    let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(
        github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1.as_bytes(),
    )
    .map_err(|e| BenchError::Octocrab(e.to_string()))?;
    let app = Octocrab::builder()
        .app(octocrab::models::AppId(APP), key)
        .base_uri(base)?
        .build()?;
    Ok(app.installation(octocrab::models::InstallationId(INSTALLATION))?)
}

/// octocrab over a hyper-util client, with tower-github-auth's layer doing the authentication,
/// built as its users build it (`tower-github-auth-octocrab`'s `octocrab_with`, `copy_octo_body`).
fn octocrab_with_our_layer(base: &str) -> Result<Octocrab, BenchError> {
    let installation = crate::github::app(base)?
        .as_installation(InstallationId(INSTALLATION))
        .replay_body_with(copy_octo_body);
    Ok(octocrab_with(
        &installation,
        hyper_client::<octocrab::OctoBody>(),
    ))
}

fn floor(github: &Github) -> Result<Floor, BenchError> {
    let uri: Uri = format!("{}{PATH}", github.base_url())
        .parse()
        .map_err(|e: http::uri::InvalidUri| BenchError::Value(e.to_string()))?;
    let mut authorization = HeaderValue::from_str(&github.floor_authorization())
        .map_err(|e| BenchError::Value(e.to_string()))?;
    authorization.set_sensitive(true);
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("bench-peers/", env!("CARGO_PKG_VERSION"))),
    );
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    headers.insert(
        HeaderName::from_static("x-github-api-version"),
        HeaderValue::from_static("2022-11-28"),
    );
    headers.insert(AUTHORIZATION, authorization);
    Ok(Floor {
        client: hyper_client(),
        uri,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Each client's first request while GitHub refuses every new token once (replication
    /// lag): octocrab with our layer replays its GET with the next token, as ours alone does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn our_layer_in_octocrab_replays_a_get_refused_by_replication_lag() {
        let github = Github::start().await.expect("the emulator");
        github.emulator().set_latency(Duration::ZERO);
        github.emulator().set_replication_lag(true);
        for peer in [Peer::Ours, Peer::OctocrabWithOurLayer] {
            let client = Client::build(peer, &github).expect("a client");
            let before = github.counters().refusals_for("replication_lag");
            assert_eq!(client.caller().get().await, Ok(()), "{}", peer.label());
            let refused = github.counters().refusals_for("replication_lag") - before;
            assert_eq!(
                refused,
                1,
                "{}: the first token was refused once",
                peer.label()
            );
        }
    }
}
