//! [`OAuthDeviceAuth`]: the OAuth device flow, for programs without a browser (command lines).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::endpoints::Endpoints;
use crate::error::{Error, Exchange};
use crate::side::{Answer, Side, decode_json, github_error, oauth_error};
use crate::strategies::oauth::flow::UserFlow;
use crate::strategies::oauth::grant::{ACCESS_TOKEN_PATH, FirstGrant, Granted, OAuthClient};
use crate::strategies::oauth::user_token::UserAuthBuilder;

/// The device-code grant type.
const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The poll interval when GitHub gives none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The longest poll interval and device-code life taken from GitHub's numbers (GitHub's are
/// 5 s and 15 minutes): a peer's number never overflows a time here, nor stalls the flow.
const LONGEST_INTERVAL: Duration = Duration::from_secs(10 * 60);
const LONGEST_CODE_LIFE: Duration = Duration::from_secs(24 * 3600);
/// What `slow_down` adds when its body carries no new interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// What to show the person who approves the device: made by GitHub, given to the callback.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeviceCode {
    /// The code the person types, such as `WDJB-MJHT`.
    pub user_code: String,
    /// Where they type it, such as `https://github.com/login/device`.
    pub verification_uri: String,
    /// How long the codes stay valid.
    pub expires_in: Duration,
    /// The poll interval GitHub asked for.
    pub interval: Duration,
}

type Prompt = Arc<dyn Fn(DeviceCode) -> BoxFuture<'static, ()> + Send + Sync>;

/// The device flow's first grant: the scopes to ask for and the callback that shows the code.
/// Set them on the [`UserAuthBuilder`].
#[derive(Clone)]
pub struct DeviceGrant {
    scopes: Vec<String>,
    prompt: Prompt,
}

impl fmt::Debug for DeviceGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceGrant")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: u64,
    interval: Option<u64>,
}

/// What one poll said.
pub(crate) enum Poll {
    Granted(Granted),
    Pending,
    SlowDown(Option<Duration>),
}

impl FirstGrant for DeviceGrant {
    fn name(&self) -> &'static str {
        "device flow"
    }

    fn exchange(&self) -> Exchange {
        Exchange::DevicePoll
    }

    fn obtain<'a>(
        &'a self,
        side: &'a Side,
        client: &'a OAuthClient,
    ) -> BoxFuture<'a, Result<Granted, Error>> {
        self.run(side, &client.client_id).boxed()
    }
}

impl DeviceGrant {
    /// Asks for a device code, shows it, polls until the person answers.
    async fn run(&self, side: &Side, client_id: &str) -> Result<Granted, Error> {
        let scope = self.scopes.join(" ");
        let mut form = vec![("client_id", client_id)];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let answer: DeviceCodeAnswer = side
            .oauth(Exchange::DeviceCode, "/login/device/code", &form)
            .await?;
        let mut interval = answer
            .interval
            .map_or(DEFAULT_INTERVAL, Duration::from_secs)
            .max(Duration::from_secs(1));
        let interval_bound = |i: Duration| i.clamp(Duration::from_secs(1), LONGEST_INTERVAL);
        interval = interval_bound(interval);
        let expires_in = Duration::from_secs(answer.expires_in).min(LONGEST_CODE_LIFE);
        let deadline = Instant::now() + expires_in;
        crate::observe::record_for("client_id", &client_id);
        tracing::debug!(%client_id, ?interval, "device flow: waiting for the user");
        (self.prompt)(DeviceCode {
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            expires_in,
            interval,
        })
        .await;
        let poll = [
            ("client_id", client_id),
            ("device_code", answer.device_code.as_str()),
            ("grant_type", DEVICE_GRANT_TYPE),
        ];
        loop {
            tokio::time::sleep(interval).await;
            let answer = side
                .oauth_answer(Exchange::DevicePoll, ACCESS_TOKEN_PATH, &poll)
                .await?;
            match read_poll(&answer)? {
                Poll::Granted(granted) => return Ok(granted),
                Poll::Pending => {}
                Poll::SlowDown(next) => {
                    interval = interval_bound(
                        next.unwrap_or(interval.saturating_add(SLOW_DOWN_STEP))
                            .max(interval),
                    );
                    tracing::debug!(?interval, "device flow: GitHub asked to slow down");
                }
            }
            if Instant::now() >= deadline.checked_add(interval).unwrap_or(deadline) {
                // GitHub says `expired_token` itself; this only stops a server that never does.
                return Err(Error::OAuth {
                    exchange: Exchange::DevicePoll,
                    error: "expired_token".to_owned(),
                    description: Some("the device code expired before the user approved it".into()),
                    uri: None,
                    request_id: None,
                    subject: None,
                });
            }
        }
    }
}

/// Reads a poll's answer: a token, keep polling, slow down, or the error that ends the flow.
pub(crate) fn read_poll(answer: &Answer) -> Result<Poll, Error> {
    let exchange = Exchange::DevicePoll;
    if let Some(err) = oauth_error(exchange, answer) {
        return match err.oauth_error() {
            Some("authorization_pending") => Ok(Poll::Pending),
            Some("slow_down") => {
                #[derive(Deserialize)]
                struct SlowDown {
                    interval: Option<u64>,
                }
                let next = serde_json::from_slice::<SlowDown>(&answer.body)
                    .ok()
                    .and_then(|s| s.interval)
                    .map(Duration::from_secs);
                Ok(Poll::SlowDown(next))
            }
            _ => Err(err),
        };
    }
    if !answer.status.is_success() {
        return Err(github_error(exchange, answer));
    }
    decode_json(exchange, answer).map(Poll::Granted)
}

/// Authenticates as the user who approves this device: runs GitHub's device flow on first use,
/// then uses and refreshes the token like an [`OAuthTokenAuth`](crate::OAuthTokenAuth).
///
/// As a layer, the first request runs the flow and every request waits on that one flow (a
/// failure, such as `access_denied`, is reported to each; a later request starts a new flow
/// after a backoff). [`fetch_token`](UserFlow::fetch_token) runs it without an API request.
/// Clones share the flow and the token. Built by [`OAuthDeviceAuth::builder`].
///
/// ```
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_github_auth::{DeviceCode, Endpoints, OAuthDeviceAuth};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // A loopback GitHub for this example; drop it and `.endpoints(..)` to talk to github.com.
/// let github = github_auth_emulator::Emulator::builder().start().await?;
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
///
/// // The callback tells the person where to go and what to type (`on_user_code_async` for an
/// // async one).
/// let device = OAuthDeviceAuth::builder(github_auth_emulator::DEFAULT_APP_CLIENT_ID)
///     .scopes(["repo"])
///     .on_user_code(|code: DeviceCode| {
///         eprintln!("Open {} and enter {}", code.verification_uri, code.user_code);
///     })
///     .endpoints(Endpoints::single(&github.base_url())?)
///     .build();
///
/// // As a layer: the first request runs the flow (once, however many requests wait on it).
/// let github_as_user = ServiceBuilder::new().layer(device.clone()).service(client.clone());
/// let response = github_as_user
///     .oneshot(http::Request::get("/user").body(Full::default())?)
///     .await?;
/// assert_eq!(response.status(), 200);
///
/// // The token set that request obtained, to store; the user as a token layer to keep.
/// let set = device.fetch_token(&client).await?;
/// assert!(set.access_token.is_some());
/// let token = device.token_auth();
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
///
/// GitHub's rules: `POST {web}/login/device/code` with the client id and scopes gives a
/// `device_code`, a `user_code` to show the person with the `verification_uri`, `expires_in` and
/// an `interval`. Then `POST {web}/login/oauth/access_token` with the device code
/// (`grant_type=urn:ietf:params:oauth:grant-type:device_code`), no faster than `interval`, until
/// the person approves. `authorization_pending` means keep polling; `slow_down` means wait longer
/// (the body carries the new `interval`; otherwise it grows by 5 seconds). Any other error ends the
/// flow as [`Error::OAuth`] with GitHub's code: `expired_token` (start again), `access_denied`
/// (the person refused), `device_flow_disabled` (turn it on in the app's settings),
/// `incorrect_client_credentials`, `incorrect_device_code`, `unsupported_grant_type`. No client
/// secret is needed, and tokens from the device flow refresh without one.
pub type OAuthDeviceAuth = UserFlow<DeviceGrant>;

impl UserFlow<DeviceGrant> {
    /// The device flow of the OAuth client `client_id` on github.com. Without
    /// [`on_user_code`](UserAuthBuilder::on_user_code), the code and URI are written to
    /// standard error.
    ///
    /// **What it shares**: each built flow runs its own device flow (the person approves it once)
    /// and keeps its own token; its clones share the flow and the token. Build one and clone it.
    pub fn builder(client_id: impl Into<String>) -> UserAuthBuilder<DeviceGrant> {
        let grant = DeviceGrant {
            scopes: Vec::new(),
            prompt: Arc::new(|code: DeviceCode| {
                eprintln!(
                    "Open {} and enter the code {}",
                    code.verification_uri, code.user_code
                );
                std::future::ready(()).boxed()
            }),
        };
        let client = OAuthClient {
            client_id: client_id.into(),
            // Device-flow tokens are obtained and refreshed without the client secret.
            client_secret: None,
        };
        UserAuthBuilder::new(
            client,
            grant,
            Endpoints::default(),
            Arc::new(Clock::default()),
        )
    }
}

impl UserAuthBuilder<DeviceGrant> {
    /// OAuth scopes to ask for, such as `repo` (none for a GitHub App, whose permissions apply).
    pub fn scopes<I, N>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.grant.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Shows the person the code and where to enter it; called before polling starts, and must
    /// not block for long.
    pub fn on_user_code<F>(mut self, on_user_code: F) -> Self
    where
        F: Fn(DeviceCode) + Send + Sync + 'static,
    {
        self.grant.prompt = Arc::new(move |code| {
            on_user_code(code);
            std::future::ready(()).boxed()
        });
        self
    }

    /// Like [`on_user_code`](Self::on_user_code), with an async callback, awaited before
    /// polling starts.
    pub fn on_user_code_async<F, Fut>(mut self, on_user_code: F) -> Self
    where
        F: Fn(DeviceCode) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.grant.prompt = Arc::new(move |code| on_user_code(code).boxed());
        self
    }

    /// The layer.
    pub fn build(self) -> OAuthDeviceAuth {
        let grant = self.grant.clone();
        self.build_flow(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;

    fn answer(body: &'static str) -> Answer {
        Answer::new(StatusCode::OK, Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn polls_are_read() {
        assert!(matches!(
            read_poll(&answer(r#"{"error":"authorization_pending"}"#)),
            Ok(Poll::Pending)
        ));
        assert!(matches!(
            read_poll(&answer(r#"{"error":"slow_down","interval":10}"#)),
            Ok(Poll::SlowDown(Some(d))) if d == Duration::from_secs(10)
        ));
        assert!(matches!(
            read_poll(&answer(r#"{"error":"slow_down"}"#)),
            Ok(Poll::SlowDown(None))
        ));
        let denied = read_poll(&answer(r#"{"error":"access_denied"}"#))
            .err()
            .unwrap();
        assert_eq!(denied.oauth_error(), Some("access_denied"));
        assert!(matches!(
            read_poll(&answer(r#"{"access_token":"ghu_x","token_type":"bearer"}"#)),
            Ok(Poll::Granted(_))
        ));
    }

    #[test]
    fn debug_shows_no_callback_internals() {
        let device = OAuthDeviceAuth::builder("Iv1.abc")
            .scopes(["repo"])
            .on_user_code(|_code| {})
            .build();
        let text = format!("{device:?}");
        assert!(
            text.contains("Iv1.abc") && text.contains("device flow"),
            "{text}"
        );
    }

    /// A GitHub that answers the device-code request with `code`, and every poll with a token.
    fn scripted_github(
        code: &'static str,
    ) -> impl tower::Service<
        http::Request<http_body_util::Full<Bytes>>,
        Response = http::Response<http_body_util::Full<Bytes>>,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(move |req: http::Request<http_body_util::Full<Bytes>>| {
            let body = if req.uri().path() == "/login/device/code" {
                code
            } else {
                r#"{"access_token":"ghu_x","token_type":"bearer"}"#
            };
            std::future::ready(Ok(http::Response::new(http_body_util::Full::new(
                Bytes::from_static(body.as_bytes()),
            ))))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn hostile_numbers_neither_panic_nor_stall_the_flow() {
        let github = scripted_github(
            r#"{"device_code":"d","user_code":"U-1","verification_uri":"https://github.com/login/device",
                "expires_in":18446744073709551615,"interval":18446744073709551615}"#,
        );
        let device = OAuthDeviceAuth::builder("Iv1.abc")
            .on_user_code(|_| {})
            .build();
        let started = Instant::now();
        let set = device.fetch_token(&github).await.unwrap();
        assert!(set.access_token.is_some());
        assert!(
            started.elapsed() <= LONGEST_INTERVAL,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_callback_is_an_error_and_the_flow_can_run_again() {
        let github = scripted_github(
            r#"{"device_code":"d","user_code":"U-1","verification_uri":"https://github.com/login/device",
                "expires_in":900,"interval":5}"#,
        );
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let device = OAuthDeviceAuth::builder("Iv1.abc")
            .on_user_code(move |_| {
                assert!(
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0,
                    "boom"
                );
            })
            .build();
        let first = device.fetch_token(&github).await;
        assert!(matches!(first, Err(Error::TaskFailed)), "{first:?}");
        tokio::time::sleep(Duration::from_secs(2)).await; // the backoff after a failure
        let second = device.fetch_token(&github).await.unwrap();
        assert!(second.access_token.is_some());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
