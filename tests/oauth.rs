//! The OAuth strategies against the emulator: web flow (single exchange, PKCE, state), rotating
//! refresh tokens and the `on_refresh` hook, the device flow, and the client's Basic credentials.

mod common;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{HttpClient, SignIn, body_bytes, client, get, send, stack};
use futures_util::future::join_all;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DeviceOutcome, Emulator, EmulatorHandle,
    TEST_APP_PRIVATE_KEY_PKCS1,
};
use http::{Request, StatusCode};
use http_body_util::Full;
use secrecy::{ExposeSecret, SecretString};
use tower::ServiceBuilder;
use tower_github_auth::{
    AppAuth, AppId, ClientCredentials, DeviceCode, Endpoints, Error, Exchange, OAuthAppAuth,
    OAuthDeviceAuth, OAuthTokenAuth, Subject, TokenSet,
};

fn endpoints(github: &EmulatorHandle) -> Endpoints {
    Endpoints::single(&github.base_url()).unwrap()
}

/// The GitHub App's OAuth client: expiring `ghu_` tokens with rotating `ghr_` refresh tokens.
fn app_client(github: &EmulatorHandle) -> OAuthAppAuth {
    OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ))
    .endpoints(endpoints(github))
}

/// The OAuth app: `gho_` tokens that never expire.
fn oauth_client(github: &EmulatorHandle) -> OAuthAppAuth {
    OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
    ))
    .endpoints(endpoints(github))
}

fn expose(secret: Option<&SecretString>) -> String {
    secret.expect("a token").expose_secret().to_owned()
}

/// What a recording client saw: every request's path, `Authorization` and body, side requests
/// included.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Record>>>);

/// A request's path, `Authorization` and body.
type Record = (String, Option<String>, String);

/// The hyper-util client, recording each request (after `rewrite`) before sending it.
#[derive(Clone)]
struct Recording {
    inner: HttpClient,
    seen: Seen,
    rewrite: fn(Request<Full<Bytes>>) -> Request<Full<Bytes>>,
}

impl tower::Service<Request<Full<Bytes>>> for Recording {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        let req = (self.rewrite)(req);
        self.seen.record(&req);
        tower::Service::call(&mut self.inner, req)
    }
}

impl Seen {
    fn client(&self) -> Recording {
        self.rewriting(|req| req)
    }

    /// A recording client that changes each request with `rewrite` before it goes out.
    fn rewriting(&self, rewrite: fn(Request<Full<Bytes>>) -> Request<Full<Bytes>>) -> Recording {
        Recording {
            inner: client(),
            seen: self.clone(),
            rewrite,
        }
    }

    fn record(&self, req: &Request<Full<Bytes>>) {
        let body = body_bytes(req);
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        self.0.lock().unwrap().push((
            req.uri().path().to_owned(),
            auth,
            String::from_utf8_lossy(&body).into_owned(),
        ));
    }

    /// The `Authorization` of every request to `path`.
    fn authorizations(&self, path: &str) -> Vec<Option<String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, a, _)| a.clone())
            .collect()
    }

    /// Whether any request carried `Bearer <token>`.
    fn carried(&self, token: &str) -> bool {
        let bearer = format!("Bearer {token}");
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a, _)| a.as_deref() == Some(bearer.as_str()))
    }

    /// The `refresh_token` of every refresh grant sent, in order.
    fn refresh_tokens_sent(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(path, _, body)| {
                let form: HashMap<String, String> = serde_urlencoded::from_str(body).ok()?;
                (path == "/login/oauth/access_token"
                    && form.get("grant_type").map(String::as_str) == Some("refresh_token"))
                .then(|| form["refresh_token"].clone())
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Web flow

#[tokio::test]
async fn fifty_concurrent_first_requests_make_one_code_exchange() {
    let github = Emulator::start().await.unwrap();
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .build();
    let svc = stack(user.clone());
    let answers = join_all((0..50).map(|_| send(&svc, get("/user")))).await;
    for answer in answers {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["login"], "octocat");
    }
    let counters = github.counters();
    assert_eq!(counters.oauth_code_exchanges, 1);
    assert_eq!(counters.refresh_attempts, 0);
    // Switching to the token shares it: no second exchange.
    let token = user.sign_in(&client()).await.unwrap();
    let set = token.cached_token().unwrap_or_default();
    assert!(expose(set.access_token.as_ref()).starts_with("ghu_"));
    assert!(expose(set.refresh_token.as_ref()).starts_with("ghr_"));
    assert!(set.expires_at.is_some() && set.refresh_token_expires_at.is_some());
    assert_eq!(github.counters().oauth_code_exchanges, 1);
}

#[tokio::test]
async fn a_reused_code_is_bad_verification_code() {
    let github = Emulator::start().await.unwrap();
    let code = github.issue_web_flow_code("octocat");
    let app = oauth_client(&github);
    app.as_web_user(code.clone())
        .sign_in(&client())
        .await
        .unwrap();

    let again = app.as_web_user(code.clone()).sign_in(&client()).await;
    let err = again.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { exchange: Exchange::CodeExchange, error, description, uri, .. }
            if error == "bad_verification_code" && description.is_some() && uri.is_some()),
        "{err}"
    );
    // Through the layer, every request that waited on the exchange gets the same error.
    let svc = stack(app.as_web_user(code).build());
    for answer in join_all((0..5).map(|_| send(&svc, get("/user")))).await {
        let err = answer.unwrap_err();
        assert_eq!(err.oauth_error(), Some("bad_verification_code"));
        // GitHub's request id, for its support, on OAuth refusals too.
        let id = err.request_id().expect("GitHub's request id");
        assert!(err.to_string().contains(id), "{err}");
        // Named: the user of that client (no store, so no user key).
        assert!(
            matches!(err.subject(), Some(Subject::User { client_id, user: None }) if *client_id == app.client_id()),
            "{err:?}"
        );
    }
    assert_eq!(github.counters().refusals_for("bad_verification_code"), 2);
}

/// Follows the authorize URL as a browser would; the `code` and `state` of the redirect.
async fn authorize(url: String) -> (String, String) {
    let req = Request::get(url)
        .header("user-agent", "browser")
        .body(Full::default())
        .unwrap();
    let response = client().request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, "https://example.com/callback");
    let query: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
    (query["code"].clone(), query["state"].clone())
}

#[tokio::test]
async fn pkce_round_trip_through_the_authorize_page() {
    let github = Emulator::start().await.unwrap();
    let app = oauth_client(&github);
    let (url, pending) = app
        .authorize_url()
        .redirect_uri("https://example.com/callback")
        .scopes(["repo", "gist"])
        .pkce()
        .build();
    assert!(url.contains("code_challenge_method=S256"));
    let (code, state) = authorize(url).await;

    let user = pending.finish(&app, code, &state).unwrap().build();
    let svc = stack(user.clone());
    let (status, body) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["login"], "octocat");
    let set = user.cached_token().unwrap_or_default();
    assert!(expose(set.access_token.as_ref()).starts_with("gho_"));
    assert_eq!(set.scopes, ["repo", "gist"]);
    assert!(set.expires_at.is_none() && set.refresh_token.is_none());

    // A code whose challenge came from another verifier is refused.
    let (url, _) = app
        .authorize_url()
        .redirect_uri("https://example.com/callback")
        .pkce()
        .build();
    let (code, _) = authorize(url).await;
    let forged = app
        .as_web_user(code)
        .redirect_uri("https://example.com/callback")
        .pkce_verifier("not-the-verifier-whose-challenge-was-sent-000000")
        .build();
    let err = forged.sign_in(&client()).await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("bad_verification_code"));
}

#[tokio::test]
async fn the_state_check_accepts_the_issued_state_and_refuses_a_forged_one() {
    let github = Emulator::start().await.unwrap();
    let app = oauth_client(&github);
    let (url, pending) = app
        .authorize_url()
        .redirect_uri("https://example.com/callback")
        .build();
    let (code, state) = authorize(url).await;
    assert_eq!(state, pending.state_ref().expose_secret());

    let mut forged = state.clone();
    forged.replace_range(..1, if forged.starts_with('A') { "B" } else { "A" });
    for bad in [forged.as_str(), "", &state[..state.len() - 1]] {
        assert!(matches!(pending.verify(bad), Err(Error::StateMismatch)));
        assert!(matches!(
            pending.finish(&app, code.clone(), bad),
            Err(Error::StateMismatch)
        ));
    }
    assert_eq!(
        github.counters().oauth_code_exchanges,
        0,
        "nothing exchanged"
    );

    pending.verify(&state).unwrap();
    let user = pending.finish(&app, code, &state).unwrap().build();
    user.sign_in(&client()).await.unwrap();
    assert_eq!(github.counters().oauth_code_exchanges, 1);
}

#[tokio::test]
async fn app_auth_switches_to_its_oauth_client() {
    let github = Emulator::start().await.unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(endpoints(&github));
    let oauth = app.as_oauth_app(ClientCredentials::new(
        DEFAULT_APP_CLIENT_ID,
        DEFAULT_APP_CLIENT_SECRET,
    ));
    assert_eq!(oauth.client_id(), DEFAULT_APP_CLIENT_ID);
    assert_eq!(oauth.endpoints_ref(), app.endpoints_ref());
    let user = oauth
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap();
    let svc = stack(user.clone());
    let (status, body) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(
        (status, body["login"].as_str()),
        (StatusCode::OK, Some("octocat"))
    );

    // A stored set comes back through the client, sharing nothing with the first.
    let restored = oauth
        .as_user(user.cached_token().unwrap_or_default())
        .build();
    let fresh = restored.refresh(&client()).await.unwrap();
    assert_ne!(
        expose(fresh.access_token.as_ref()),
        expose(
            user.cached_token()
                .unwrap_or_default()
                .access_token
                .as_ref()
        )
    );
    assert_eq!(github.counters().refreshes, 1);
}

// ---------------------------------------------------------------------------------------------
// User tokens: refresh, rotation, the hook

#[tokio::test(start_paused = true)]
async fn a_thousand_refresh_cycles_rotate_without_a_bad_refresh_token() {
    const CYCLES: usize = 1000;
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let seen = Seen::default();
    let hooked: Arc<Mutex<Vec<String>>> = Arc::default();
    let (count, mut counted) = tokio::sync::watch::channel(0_usize);
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .on_refresh({
            let hooked = Arc::clone(&hooked);
            move |set: TokenSet| {
                hooked
                    .lock()
                    .unwrap()
                    .push(expose(set.refresh_token.as_ref()));
                count.send_modify(|n| *n += 1);
                async { Ok::<_, Infallible>(()) }
            }
        })
        .build();
    // Two clones of the layer, two stacks: they share the token and its refresh token.
    let a = ServiceBuilder::new()
        .layer(user.clone())
        .service(seen.client());
    let b = ServiceBuilder::new()
        .layer(user.clone())
        .service(seen.client());
    assert_eq!(send(&a, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(*counted.borrow(), 1, "the exchanged set reached the hook");

    let started = std::time::Instant::now();
    for cycle in 0..CYCLES {
        let before = *counted.borrow();
        // Even cycles: inside the refresh margin. Odd: past expiry. Either way every request
        // waits on the one refresh: it ends the old token (as GitHub does), so a request sent
        // with the old one meanwhile would be refused.
        let step = if cycle % 2 == 0 { 65 } else { 121 };
        tokio::time::advance(Duration::from_secs(step)).await;
        let requests = (0..6).map(|i| send(if i % 2 == 0 { &a } else { &b }, get("/user")));
        for answer in join_all(requests).await {
            let (status, body) = answer.unwrap();
            assert_eq!(status, StatusCode::OK, "cycle {cycle}");
            assert_eq!(body["login"], "octocat");
        }
        counted.wait_for(|n| *n > before).await.unwrap();
        assert_eq!(
            *counted.borrow(),
            before + 1,
            "one refresh in cycle {cycle}"
        );
    }
    let elapsed = started.elapsed();

    let counters = github.counters();
    eprintln!(
        "{CYCLES} refresh cycles in {elapsed:?} of real time: {} refreshes, {} requests, {} token_revoked replays",
        counters.refreshes,
        counters.requests,
        counters.refusals_for("token_revoked"),
    );
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
    assert_eq!(
        counters.refusals_for("token_revoked"),
        0,
        "no request went out with a token its refresh had ended"
    );
    assert_eq!(counters.refreshes, CYCLES as u64);
    assert_eq!(counters.refresh_attempts, CYCLES as u64);
    assert_eq!(counters.oauth_code_exchanges, 1);

    // Every refresh token GitHub issued reached the hook, in order, and each refresh sent the
    // one the hook had received just before.
    let hooked = hooked.lock().unwrap().clone();
    assert_eq!(hooked.len(), CYCLES + 1);
    assert_eq!(
        hooked.iter().collect::<HashSet<_>>().len(),
        CYCLES + 1,
        "all distinct"
    );
    assert_eq!(seen.refresh_tokens_sent(), hooked[..CYCLES]);
    assert_eq!(
        expose(
            user.cached_token()
                .unwrap_or_default()
                .refresh_token
                .as_ref()
        ),
        hooked[CYCLES]
    );
}

/// The caller's token store, as an `on_refresh` hook: it records each access token offered, and
/// refuses them while `down` is set.
#[derive(Clone, Default)]
struct TokenStore {
    down: Arc<AtomicBool>,
    offered: Arc<Mutex<Vec<String>>>,
}

impl TokenStore {
    fn hook(&self) -> impl Fn(TokenSet) -> std::future::Ready<Result<(), std::io::Error>> + use<> {
        let store = self.clone();
        move |set: TokenSet| {
            store
                .offered
                .lock()
                .unwrap()
                .push(expose(set.access_token.as_ref()));
            std::future::ready(if store.down.load(Ordering::SeqCst) {
                Err(std::io::Error::other("the token store is down"))
            } else {
                Ok(())
            })
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_keeps_the_new_token_out_of_use() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let seen = Seen::default();
    let store = TokenStore::default();
    let (failing, offered) = (&store.down, &store.offered);
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .on_refresh(store.hook())
        .build();
    let svc = ServiceBuilder::new()
        .layer(user.clone())
        .service(seen.client());
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    let first = expose(
        user.cached_token()
            .unwrap_or_default()
            .access_token
            .as_ref(),
    );

    failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(121)).await;
    let err = send(&svc, get("/user")).await.unwrap_err();
    assert!(matches!(err, Error::Hook(_)), "{err}");
    assert!(err.to_string().contains("the token store is down"), "{err}");
    let refused = offered.lock().unwrap().last().cloned().unwrap();
    assert_ne!(refused, first);
    assert_eq!(
        expose(
            user.cached_token()
                .unwrap_or_default()
                .access_token
                .as_ref()
        ),
        first
    );
    assert!(!seen.carried(&refused), "the refused token was never sent");

    // The store is back: the next refresh uses the newest refresh token, and the hook gets it.
    failing.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(2)).await; // past the backoff
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    let now_used = expose(
        user.cached_token()
            .unwrap_or_default()
            .access_token
            .as_ref(),
    );
    assert_eq!(offered.lock().unwrap().last(), Some(&now_used));
    assert!(!seen.carried(&refused));
    let counters = github.counters();
    assert_eq!(counters.refreshes, 2);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);

    // A manual refresh goes through the hook too, and fails the same way.
    failing.store(true, Ordering::SeqCst);
    let token = user.sign_in(&client()).await.unwrap();
    let err = token.refresh(&client()).await.unwrap_err();
    assert!(matches!(err, Error::Hook(_)));
    assert_eq!(
        expose(
            user.cached_token()
                .unwrap_or_default()
                .access_token
                .as_ref()
        ),
        now_used
    );
    failing.store(false, Ordering::SeqCst);
    let fresh = token.refresh(&client()).await.unwrap();
    assert_eq!(
        offered.lock().unwrap().last(),
        fresh
            .access_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .as_ref()
    );
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_request_replayed() {
    let github = Emulator::start().await.unwrap();
    let seen = Seen::default();
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(user.clone())
        .service(seen.client());
    let revoked = expose(
        user.cached_token()
            .unwrap_or_default()
            .access_token
            .as_ref(),
    );
    github.revoke(&revoked);

    let answers = join_all((0..10).map(|_| send(&svc, get("/user")))).await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().0 == StatusCode::OK)
    );
    let counters = github.counters();
    assert_eq!(
        counters.refreshes, 1,
        "one refresh for every refused request"
    );
    assert_eq!(counters.refusals_for("token_revoked"), 10);
    assert_ne!(
        expose(
            user.cached_token()
                .unwrap_or_default()
                .access_token
                .as_ref()
        ),
        revoked
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_refused_hook_the_ended_token_is_not_sent() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let store = TokenStore::default();
    let failing = &store.down;
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .replay_unauthorized(false)
        .on_refresh(store.hook())
        .build();
    let svc = stack(user.clone());
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);

    // Inside the refresh margin, the old token still valid: the refresh goes through at GitHub
    // (ending the old token) but the hook refuses the new set.
    failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(65)).await;
    let err = send(&svc, get("/user")).await.unwrap_err();
    assert!(matches!(err, Error::Hook(_)), "{err}");
    // During the backoff nothing goes out with the ended token.
    let during = send(&svc, get("/user")).await.unwrap_err();
    assert!(matches!(during, Error::Backoff { .. }), "{during}");
    assert_eq!(github.counters().refusals_for("token_revoked"), 0);
    // After it, the newest refresh token works.
    failing.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    let counters = github.counters();
    assert_eq!(counters.refreshes, 2);
    assert_eq!(counters.refusals_for("token_revoked"), 0);
    assert_eq!(counters.refusals_for("bad_refresh_token"), 0);
}

#[tokio::test(start_paused = true)]
async fn five_second_user_tokens_are_refreshed_once_per_half_life() {
    // GitHub Enterprise Server admins and test setups give tokens short lives.
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .build();
    let svc = stack(user);
    let started = tokio::time::Instant::now();
    // 50 callers, each sending a request every 100 ms for 12 s.
    let callers = (0..50).map(|_| {
        let svc = svc.clone();
        async move {
            let mut sent = 0_u32;
            while started.elapsed() < Duration::from_secs(12) {
                let (status, _) = send(&svc, get("/user")).await.unwrap();
                assert_eq!(status, StatusCode::OK);
                sent += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            sent
        }
    });
    let sent: u32 = join_all(callers).await.into_iter().sum();
    let refreshes = github.counters().refreshes;
    // At most one refresh per 2.5 s of run time (half of a 5 s life): 12 / 2.5 = 4.8.
    assert!(
        refreshes <= 5,
        "{refreshes} refreshes for {sent} requests in 12 s"
    );
    assert!(sent > 5_000, "{sent}");
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

#[tokio::test(start_paused = true)]
async fn user_token_knobs_refresh_margin_and_replay() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(8 * 3600))
        .start()
        .await
        .unwrap();
    let user = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .refresh_margin(Duration::from_secs(3600))
        .replay_unauthorized(false)
        .sign_in(&client())
        .await
        .unwrap();
    let svc = stack(user.clone());
    let first = expose(
        user.cached_token()
            .unwrap_or_default()
            .access_token
            .as_ref(),
    );

    // 6 h 59 into an 8 h token: outside the 1 h margin.
    tokio::time::advance(Duration::from_secs(7 * 3600 - 60)).await;
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().refreshes, 0);
    // 7 h: inside it (the default margin, 5 min, would wait until 7 h 55). The refresh ends the
    // old token, so the request waits for it and goes with the new one.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().refreshes, 1, "refreshed 1 h ahead");
    assert_eq!(github.counters().refusals_for("token_revoked"), 0);
    let second = expose(
        user.cached_token()
            .unwrap_or_default()
            .access_token
            .as_ref(),
    );
    assert_ne!(second, first);

    // Without replay, a refused token drops out of the cache and the 401 reaches the caller;
    // the next request refreshes.
    github.revoke(&second);
    let (status, _) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        github.counters().refreshes,
        1,
        "no replay, so no refresh yet"
    );
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().refreshes, 2);
}

#[tokio::test(start_paused = true)]
async fn given_tokens_are_used_then_refreshed() {
    let github = Emulator::builder()
        .user_token_ttl(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let stored = app_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap()
        .cached_token()
        .unwrap_or_default();

    // Only a refresh token: the first request refreshes.
    let credentials = ClientCredentials::new(DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let from_refresh = OAuthTokenAuth::builder(credentials.clone())
        .refresh_token(expose(stored.refresh_token.as_ref()))
        .endpoints(endpoints(&github))
        .build();
    assert!(from_refresh.cached_token().is_none());
    let svc = stack(from_refresh.clone());
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().refreshes, 1);
    let refreshed = from_refresh.cached_token().unwrap_or_default();

    // A token with its expiry and refresh token: used as is until near its expiry.
    let given = OAuthTokenAuth::builder(credentials)
        .access_token(expose(refreshed.access_token.as_ref()))
        .expires_at(refreshed.expires_at.unwrap())
        .refresh_token(expose(refreshed.refresh_token.as_ref()))
        .refresh_token_expires_at(refreshed.refresh_token_expires_at.unwrap())
        .endpoints(endpoints(&github))
        .build();
    let svc = stack(given.clone());
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(
        github.counters().refreshes,
        1,
        "a valid given token is used as is"
    );
    tokio::time::advance(Duration::from_secs(3601)).await;
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    assert_eq!(github.counters().refreshes, 2);

    // A token that cannot be refreshed: a clear error once it is refused.
    let gho = oauth_client(&github)
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap();
    github.revoke(&expose(
        gho.cached_token().unwrap_or_default().access_token.as_ref(),
    ));
    let svc = stack(gho);
    let err = send(&svc, get("/user")).await.unwrap_err();
    assert!(matches!(err, Error::RefreshImpossible { .. }), "{err}");
    assert_eq!(github.counters().refusals_for("bad_refresh_token"), 0);
}

// ---------------------------------------------------------------------------------------------
// Device flow

/// A device flow of the GitHub App's client that records the codes shown.
fn device(github: &EmulatorHandle, shown: &Arc<Mutex<Vec<DeviceCode>>>) -> OAuthDeviceAuth {
    let shown = Arc::clone(shown);
    OAuthDeviceAuth::builder(DEFAULT_APP_CLIENT_ID)
        .on_user_code_async(move |code: DeviceCode| {
            let shown = Arc::clone(&shown);
            async move { shown.lock().unwrap().push(code) }
        })
        .endpoints(endpoints(github))
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_device_flow_polls_until_approved_once_for_all_waiting_requests() {
    let github = Emulator::builder()
        .device_outcome(DeviceOutcome::ApproveAfter(3))
        .start()
        .await
        .unwrap();
    let shown = Arc::default();
    let device = device(&github, &shown);
    let svc = stack(device.clone());
    for answer in join_all((0..20).map(|_| send(&svc, get("/user")))).await {
        let (status, body) = answer.unwrap();
        assert_eq!(
            (status, body["login"].as_str()),
            (StatusCode::OK, Some("octocat"))
        );
    }
    let counters = github.counters();
    assert_eq!(counters.device_code_requests, 1);
    assert_eq!(counters.device_polls, 3);
    assert_eq!(counters.device_polls_too_fast, 0);
    assert_eq!(counters.refusals_for("authorization_pending"), 2);
    let shown = shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].user_code.len(), 9);
    assert!(shown[0].verification_uri.ends_with("/login/device"));
    assert_eq!(shown[0].interval, Duration::from_secs(5));
    assert_eq!(shown[0].expires_in, Duration::from_secs(900));

    // Device-flow tokens refresh without the client secret.
    let token = device.sign_in(&client()).await.unwrap();
    assert!(
        token
            .cached_token()
            .unwrap_or_default()
            .refresh_token
            .is_some()
    );
    tokio::time::advance(Duration::from_secs(8 * 3600 + 1)).await;
    assert_eq!(send(&svc, get("/user")).await.unwrap().0, StatusCode::OK);
    let counters = github.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.device_code_requests, 1);
    assert_eq!(counters.refusals_for("incorrect_client_credentials"), 0);
}

#[tokio::test(start_paused = true)]
async fn slow_down_makes_the_interval_grow() {
    let github = Emulator::builder()
        .device_outcome(DeviceOutcome::ApproveAfter(2))
        .start()
        .await
        .unwrap();
    github.set_device_slow_down(3);
    let shown = Arc::default();
    let started = tokio::time::Instant::now();
    let token = device(&github, &shown).sign_in(&client()).await.unwrap();
    assert!(
        token
            .cached_token()
            .unwrap_or_default()
            .access_token
            .is_some()
    );
    let counters = github.counters();
    assert_eq!(counters.refusals_for("slow_down"), 3);
    assert_eq!(
        counters.device_polls, 5,
        "3 slow_down, 1 pending, 1 approval"
    );
    // The emulator counts a poll sooner than the (grown) interval as too fast: none were.
    assert_eq!(counters.device_polls_too_fast, 0);
    // 5 s, then 10, 15, 20 and 20 s (paused clock: simulated time, no real waiting).
    assert!(started.elapsed() >= Duration::from_secs(5 + 10 + 15 + 20 + 20));
}

#[tokio::test(start_paused = true)]
async fn device_flow_refusals_are_typed_errors() {
    for (outcome, expected, exchange) in [
        (DeviceOutcome::Deny, "access_denied", Exchange::DevicePoll),
        (DeviceOutcome::Expire, "expired_token", Exchange::DevicePoll),
        (
            DeviceOutcome::Disabled,
            "device_flow_disabled",
            Exchange::DeviceCode,
        ),
    ] {
        let github = Emulator::builder()
            .device_outcome(outcome)
            .start()
            .await
            .unwrap();
        let shown = Arc::default();
        let device = device(&github, &shown);
        let err = device.sign_in(&client()).await.unwrap_err();
        assert!(
            matches!(&err, Error::OAuth { exchange: e, error, .. } if *e == exchange && error == expected),
            "{outcome:?}: {err}"
        );
        // Through the layer, the request gets the same (after the backoff, a new flow).
        let svc = stack(device);
        assert_eq!(
            send(&svc, get("/user")).await.unwrap_err().oauth_error(),
            Some(expected)
        );
        assert_eq!(github.counters().device_polls_too_fast, 0);
    }

    // The person never answers: GitHub's own expiry ends the flow.
    let github = Emulator::builder()
        .device_outcome(DeviceOutcome::ForeverPending)
        .device_expires_in(60)
        .start()
        .await
        .unwrap();
    let shown = Arc::default();
    let err = device(&github, &shown)
        .sign_in(&client())
        .await
        .unwrap_err();
    assert_eq!(err.oauth_error(), Some("expired_token"));
    let counters = github.counters();
    assert!(counters.refusals_for("authorization_pending") >= 10);
    assert_eq!(counters.device_polls_too_fast, 0);

    // An unknown client.
    let unknown = OAuthDeviceAuth::builder("Iv1.nobody")
        .scopes(["repo"])
        .on_user_code(|_| {})
        .endpoints(endpoints(&github))
        .build();
    let err = unknown.sign_in(&client()).await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("incorrect_client_credentials"));

    // A device code GitHub does not know (here: rewritten on its way by the inner service).
    let github = Emulator::start().await.unwrap();
    let shown = Arc::default();
    let err = device(&github, &shown)
        .sign_in(&Seen::default().rewriting(forget_device_code))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { exchange: Exchange::DevicePoll, error, .. } if error == "incorrect_device_code"),
        "{err}"
    );
    assert_eq!(github.counters().device_polls, 1, "no second poll");
}

/// Replaces the device code of a device-flow poll with one GitHub does not know.
fn forget_device_code(req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body_bytes(&req)).unwrap_or_default();
    if !form.iter().any(|(key, _)| key == "device_code") {
        return req;
    }
    for (key, value) in &mut form {
        if key == "device_code" {
            "unknown-device-code".clone_into(value);
        }
    }
    let (parts, _) = req.into_parts();
    let body = Full::new(Bytes::from(serde_urlencoded::to_string(&form).unwrap()));
    Request::from_parts(parts, body)
}

// ---------------------------------------------------------------------------------------------
// The OAuth client's Basic credentials

#[tokio::test]
async fn check_reset_and_delete_user_tokens() {
    let github = Emulator::start().await.unwrap();
    let app = oauth_client(&github);
    let http = client();
    let user = app
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&http)
        .await
        .unwrap();
    let token = user
        .cached_token()
        .unwrap_or_default()
        .access_token
        .unwrap();

    let info = app.check_token(&http, &token).await.unwrap().unwrap();
    assert_eq!(info.token.expose_secret(), token.expose_secret());
    assert_eq!(info.login.as_deref(), Some("octocat"));
    assert!(info.expires_at.is_none());
    assert_eq!(
        info.token_last_eight.as_deref(),
        Some(&token.expose_secret()[token.expose_secret().len() - 8..])
    );

    let reset = app.reset_token(&http, &token).await.unwrap();
    assert_ne!(reset.token.expose_secret(), token.expose_secret());
    assert!(app.check_token(&http, &token).await.unwrap().is_none());
    assert!(
        app.check_token(&http, &reset.token)
            .await
            .unwrap()
            .is_some()
    );

    app.delete_token(&http, &reset.token).await.unwrap();
    assert!(
        app.check_token(&http, &reset.token)
            .await
            .unwrap()
            .is_none()
    );
    let err = app.delete_token(&http, &reset.token).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));

    // Wrong credentials are GitHub's 401, not a missing token.
    let wrong = OAuthAppAuth::new(ClientCredentials::new(DEFAULT_OAUTH_CLIENT_ID, "wrong"))
        .endpoints(endpoints(&github));
    let err = wrong.check_token(&http, &token).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(matches!(
        err,
        Error::GitHub {
            exchange: Exchange::TokenCheck,
            ..
        }
    ));
}

#[tokio::test]
async fn basic_credentials_go_only_to_the_clients_applications_routes() {
    let github = Emulator::start().await.unwrap();
    let app = oauth_client(&github);
    let token = app
        .as_web_user(github.issue_web_flow_code("octocat"))
        .sign_in(&client())
        .await
        .unwrap()
        .cached_token()
        .unwrap_or_default()
        .access_token
        .unwrap();
    let seen = Seen::default();
    let svc = ServiceBuilder::new()
        .layer(app.clone())
        .service(seen.client());

    let own = format!("/applications/{DEFAULT_OAUTH_CLIENT_ID}/token");
    let check = |path: &str| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Full::from(
                serde_json::json!({ "access_token": token.expose_secret() }).to_string(),
            ))
            .unwrap()
    };
    let (status, body) = send(&svc, check(&own)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["login"], "octocat");
    let (status, _) = send(&svc, get("/user")).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = format!("/applications/{DEFAULT_APP_CLIENT_ID}/token");
    let (status, _) = send(&svc, check(&other)).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let lookalike = format!("/applications/{DEFAULT_OAUTH_CLIENT_ID}x/token");
    send(&svc, check(&lookalike)).await.unwrap();

    let basic = seen.authorizations(&own);
    assert_eq!(basic.len(), 1);
    assert!(basic[0].as_deref().unwrap().starts_with("Basic "));
    assert_eq!(seen.authorizations("/user"), [None]);
    assert_eq!(seen.authorizations(&other), [None]);
    assert_eq!(seen.authorizations(&lookalike), [None]);
}

// ---------------------------------------------------------------------------------------------
// Debug

#[tokio::test]
async fn debug_never_shows_a_secret() {
    let github = Emulator::start().await.unwrap();
    let app = app_client(&github);
    let http = client();
    let code = github.issue_web_flow_code("octocat");
    let web = app
        .as_web_user(code.clone())
        .pkce_verifier("verifier-s3cret")
        .build();
    let (url, pending) = app.authorize_url().state("state-s3cret").pkce().build();
    let builder = app.authorize_url().state("state-s3cret");
    let token = web.sign_in(&http).await.unwrap();
    let set = token.cached_token().unwrap_or_default();
    let access = expose(set.access_token.as_ref());
    let refresh = expose(set.refresh_token.as_ref());
    let info = app
        .check_token(&http, set.access_token.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let given = OAuthTokenAuth::builder(ClientCredentials::new("Iv1.x", "client-s3cret"))
        .access_token("ghu_given-s3cret")
        .refresh_token("ghr_given-s3cret");
    let device = OAuthDeviceAuth::builder(DEFAULT_APP_CLIENT_ID)
        .scopes(["repo"])
        .on_user_code(|_| {});
    let service = stack(token.clone());
    let shown = [
        format!("{app:?}"),
        format!("{web:?}"),
        format!("{pending:?}"),
        format!("{builder:?}"),
        format!("{token:?}"),
        format!("{set:?}"),
        format!("{info:?}"),
        format!("{given:?}"),
        format!("{device:?}"),
        format!("{service:?}"),
        format!(
            "{:?}",
            OAuthAppAuth::new(ClientCredentials::new("id", "client-s3cret"))
        ),
    ];
    let verifier = pending
        .pkce_verifier_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    for text in &shown {
        for secret in [
            DEFAULT_APP_CLIENT_SECRET,
            code.as_str(),
            "verifier-s3cret",
            "state-s3cret",
            &verifier,
            &access,
            &refresh,
            "client-s3cret",
            "given-s3cret",
        ] {
            assert!(!text.contains(secret), "{text} shows {secret}");
        }
        assert!(
            text.contains("***") || text.contains("DeviceGrant"),
            "{text}"
        );
    }
    // The URL carries the state, as it must.
    assert!(url.contains("state=state-s3cret"));
}
