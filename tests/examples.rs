//! The examples' servers, driven by a real HTTP client against the emulator.

// The example programs are compiled here as modules, from the sibling `examples` package's
// folder, for their `pub fn router`. That package has only example targets, which no other
// package can depend on; giving it a library would split each example between two files, and
// the examples are meant to be read and copied as one self-contained program each. Both
// packages are `publish = false`, so the path never has to resolve outside this repository.
// Their `main` is unused here (dead code), and the example crates' `pub` items are not exported
// from this test.
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/axum_oauth_login.rs"]
mod axum_oauth_login;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/app_from_manifest.rs"]
mod app_from_manifest;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/kms_signer.rs"]
mod kms_signer;

#[cfg(feature = "metrics")]
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/prometheus.rs"]
mod prometheus;
#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/webhook_app.rs"]
mod webhook_app;

use bytes::Bytes;
use futures_util::future::join_all;
use github_auth_emulator::{
    DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, Emulator, TEST_APP_PRIVATE_KEY_PKCS1,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_github_auth::{AppAuth, AppId, ClientCredentials, Endpoints, OAuthAppAuth};

#[tokio::test]
async fn axum_app_calls_github_as_the_installation_in_the_request() {
    let github = Emulator::builder().start().await.unwrap();
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_app::router(app)).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let fetch = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}{path}").parse().unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).ok(),
            )
        }
    };
    let answers = join_all((0..20).map(|i| {
        fetch(if i % 2 == 0 {
            "/installations/1/repos/octo/one"
        } else {
            "/installations/2/repos/monalisa/hello"
        })
    }))
    .await;
    for (i, (status, body)) in answers.into_iter().enumerate() {
        assert_eq!(status, 200);
        let body = body.unwrap();
        let expected = if i % 2 == 0 { 1 } else { 2 };
        assert_eq!(body["emulator"]["installation_id"], expected);
    }
    // Twenty requests, two installations: two exchanges.
    assert_eq!(github.counters().installation_token_exchanges, 2);

    // An installation that does not cover the repository: GitHub's 404 comes through.
    let (status, _) = fetch("/installations/2/repos/octo/one").await;
    assert_eq!(status, 404);
}

/// What a hand-driven browser needs of an answer: its status, `Location`, `Set-Cookie`s, body.
struct Answer {
    status: http::StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    body: Bytes,
}

impl Answer {
    /// The `name=value` of the `Set-Cookie` named `name`, with its attributes.
    fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.cookies.iter().find_map(|c| {
            let (pair, attributes) = c.split_once(';').unwrap_or((c, ""));
            pair.strip_prefix(&format!("{name}="))
                .map(|_| (pair.to_owned(), attributes.to_owned()))
        })
    }
}

/// `GET url` as a browser would, with `cookie` as the `Cookie` header; redirects are not
/// followed.
async fn get(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    cookie: Option<&str>,
) -> Answer {
    // Like a browser: GitHub refuses requests without a User-Agent.
    let mut request = http::Request::get(url).header(http::header::USER_AGENT, "test-browser");
    if let Some(cookie) = cookie {
        request = request.header(http::header::COOKIE, cookie);
    }
    let response = client
        .request(request.body(Full::default()).unwrap())
        .await
        .unwrap();
    let headers = response.headers();
    let location = headers
        .get(http::header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let cookies = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        cookies,
        body,
    }
}

#[tokio::test]
async fn axum_oauth_login_walks_the_whole_flow() {
    let github = Emulator::builder().start().await.unwrap();
    let oauth_app = OAuthAppAuth::new(ClientCredentials::new(
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
    ))
    .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum_oauth_login::router(oauth_app, &base);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    // Not signed in yet.
    assert_eq!(get(&client, &format!("{base}/me"), None).await.status, 401);

    // /login: to GitHub's authorize page, with state, PKCE and our callback; a pending cookie.
    let login = get(&client, &format!("{base}/login"), None).await;
    assert!(login.status.is_redirection(), "{}", login.status);
    let authorize = login.location.clone().unwrap();
    let authorize_prefix = format!(
        "{}/login/oauth/authorize?client_id={DEFAULT_OAUTH_CLIENT_ID}&",
        github.base_url()
    );
    assert!(authorize.starts_with(&authorize_prefix), "{authorize}");
    for part in ["&state=", "&code_challenge=", "&code_challenge_method=S256"] {
        assert!(authorize.contains(part), "{authorize}");
    }
    let (pending, attributes) = login.cookie("oauth_pending").unwrap();
    assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"));

    // GitHub approves as octocat and sends the browser back with a code and the state.
    let approved = get(&client, &authorize, None).await;
    assert_eq!(approved.status, 302);
    let callback = approved.location.unwrap();
    assert!(
        callback.starts_with(&format!("{base}/callback?code=")),
        "{callback}"
    );
    assert!(callback.contains("&state="), "{callback}");
    assert_eq!(github.counters().oauth_code_exchanges, 0);

    // /callback: state checked, code exchanged, session cookie, to /me.
    let signed_in = get(&client, &callback, Some(&pending)).await;
    assert!(signed_in.status.is_redirection(), "{}", signed_in.status);
    assert_eq!(signed_in.location.as_deref(), Some("/me"));
    let (session, attributes) = signed_in.cookie("session").unwrap();
    assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"));
    assert_eq!(github.counters().oauth_code_exchanges, 1);

    // /me: GitHub's `GET /user` as the signed-in user.
    let me = get(&client, &format!("{base}/me"), Some(&session)).await;
    assert_eq!(me.status, 200);
    let me: serde_json::Value = serde_json::from_slice(&me.body).unwrap();
    assert_eq!(me, serde_json::json!({ "login": "octocat" }));
    assert_eq!(github.counters().oauth_code_exchanges, 1);

    // The same callback again: the state was spent, nothing is exchanged.
    let replayed = get(&client, &callback, Some(&pending)).await;
    assert_eq!(replayed.status, 400);
    assert!(signed_in_cookie_absent(&replayed));

    // A forged state, with a good code and a real pending sign-in: refused before any exchange.
    let login = get(&client, &format!("{base}/login"), None).await;
    let (pending, _) = login.cookie("oauth_pending").unwrap();
    let code = github.issue_web_flow_code("octocat");
    let forged_url = format!("{base}/callback?code={code}&state=forged");
    let forged = get(&client, &forged_url, Some(&pending)).await;
    assert_eq!(forged.status, 400);
    let message = String::from_utf8_lossy(&forged.body);
    assert!(message.contains("state"), "{message}");
    assert!(signed_in_cookie_absent(&forged));
    // The pending sign-in is spent too, and a forged callback without one is refused as well.
    assert_eq!(get(&client, &forged_url, Some(&pending)).await.status, 400);
    assert_eq!(get(&client, &forged_url, None).await.status, 400);
    assert_eq!(github.counters().oauth_code_exchanges, 1);
}

/// No session was opened by this answer.
fn signed_in_cookie_absent(answer: &Answer) -> bool {
    answer.cookie("session").is_none()
}

#[tokio::test]
async fn app_from_manifest_creates_the_app_once_and_acts_as_it() {
    let github = Emulator::builder().start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let router = app_from_manifest::router(Endpoints::single(&github.base_url()).unwrap(), &public);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client.get(path.parse().unwrap()).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };

    // Before setup, there is no App to act as.
    assert_eq!(get(format!("{public}/app")).await.0, 409);
    let (_, page) = get(format!("{public}/setup")).await;
    let state = page
        .split("state=")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let manifest = page
        .split("value='")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
    assert_eq!(manifest["redirect_url"], format!("{public}/setup/done"));
    let code = github.issue_manifest_code(&manifest);

    // A forged state is refused, and the code is not spent on it.
    let (status, _) = get(format!("{public}/setup/done?code={code}&state=forged")).await;
    assert_eq!(status, 400);
    let (status, created) = get(format!("{public}/setup/done?code={code}&state={state}")).await;
    assert_eq!(status, 200, "{created}");
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (status, me) = get(format!("{public}/app")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&me).unwrap()["id"],
        created["id"]
    );
    let installation = &created["installations"][0];
    let (status, _) = get(format!(
        "{public}/installations/{installation}/repositories"
    ))
    .await;
    assert_eq!(status, 200);
    // The state was used once.
    let (status, _) = get(format!("{public}/setup/done?code={code}&state={state}")).await;
    assert_eq!(status, 400);
    assert_eq!(github.counters().manifest_conversions, 1);
}

#[tokio::test]
async fn kms_signer_signs_the_apps_jwts_without_the_key_in_the_process() {
    use tower_github_auth::{Error, InstallationId, PrivateKey};

    let github = Emulator::builder().start().await.unwrap();
    let endpoints = Endpoints::single(&github.base_url()).unwrap();
    let kms = kms_signer::Kms::new(PrivateKey::from_pem(TEST_APP_PRIVATE_KEY_PKCS1).unwrap());
    let kms_url = kms.start().await.unwrap();
    let signer = kms_signer::KmsSigner::new(&kms_url, kms_signer::KEY_ID);
    let app = AppAuth::with_signer(AppId(1), signer).endpoints(endpoints.clone());

    // The emulator verifies the KMS-signed JWT: GET /app is the App.
    let (status, me) = kms_signer::call(app.clone(), "/app").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(me["id"], 1);
    // Twenty concurrent installation requests: one token, minted with the same JWT.
    let answers = join_all(
        (0..20)
            .map(|_| kms_signer::call(app.as_installation(InstallationId(1)), "/repos/octo/one")),
    )
    .await;
    for answer in answers {
        let (status, repo) = answer.unwrap();
        assert_eq!(status, 200);
        assert_eq!(repo["emulator"]["credential"], "installation");
    }
    let counters = github.counters();
    assert_eq!(counters.installation_tokens_minted, 1);
    assert_eq!(counters.distinct_jwts, 1);
    assert_eq!(kms.signatures(), 1, "one signature for every request");
    assert!(app.fetch_jwt().await.is_ok());
    assert_eq!(kms.signatures(), 1);

    // A key the KMS does not have: the KMS's refusal, typed, with the key id.
    let wrong = AppAuth::with_signer(AppId(1), kms_signer::KmsSigner::new(&kms_url, "other-key"))
        .endpoints(endpoints);
    let err = kms_signer::call(wrong, "/app").await.unwrap_err();
    let err = err.downcast::<Error>().unwrap();
    let Error::Signer { key_id, .. } = &*err else {
        panic!("{err:?}")
    };
    assert!(key_id.ends_with("#other-key"), "{key_id}");
    assert!(err.to_string().contains("NotFoundException"), "{err}");
    assert_eq!(
        github.counters().distinct_jwts,
        1,
        "nothing signed reached GitHub"
    );
}

#[tokio::test]
async fn webhook_app_comments_once_per_delivery_as_the_installation_that_sent_it() {
    use github_auth_emulator::Forbidden;
    use http::StatusCode;

    let github = Emulator::builder().start().await.unwrap();
    github.set_webhook_secret("s3cret");
    let app = AppAuth::from_pem(AppId(1), TEST_APP_PRIVATE_KEY_PKCS1)
        .unwrap()
        .endpoints(Endpoints::single(&github.base_url()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, webhook_app::router(app, "s3cret")).await });

    // A delivery: one comment, by the App's bot, through installation 2 (monalisa/hello's).
    let event = github
        .issues_opened_event("monalisa", "hello", 3, "Typo")
        .unwrap();
    let first = github.deliver(&url, &event).await.unwrap();
    assert_eq!(first.status, StatusCode::CREATED);
    let comments = github.issue_comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].installation_id, Some(2));
    assert_eq!(comments[0].author, "emulator-app[bot]");
    assert_eq!(
        (comments[0].repo.as_str(), comments[0].issue_number),
        ("hello", 3)
    );
    assert_eq!(comments[0].body, "Thanks for the report, @octocat!");

    // GitHub's redelivery: answered 200, no second comment.
    let again = github.redeliver(&url, &first.id).await.unwrap();
    assert_eq!(
        (again.id.as_str(), again.status),
        (first.id.as_str(), StatusCode::OK)
    );
    // A wrong secret: 401, nothing done.
    let forged = github
        .deliver_signed_with(&url, &event, "guess")
        .await
        .unwrap();
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(github.issue_comments().len(), 1);

    // The comment fails (GitHub refuses it once): 502, and the redelivery runs the handler again.
    let second = github
        .issues_opened_event("octo", "one", 4, "Slow")
        .unwrap();
    github.forbid_next(1, Forbidden::MissingPermission("issues=write".into()));
    let failed = github.deliver(&url, &second).await.unwrap();
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(github.issue_comments().len(), 1);
    let retried = github.redeliver(&url, &failed.id).await.unwrap();
    assert_eq!(retried.status, StatusCode::CREATED);
    let comments = github.issue_comments();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1].installation_id, Some(1));
}

/// The prometheus example's replica: its `/metrics`, scraped while it works, has every family
/// its work produces, each under `github_auth_`.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn the_prometheus_replica_exposes_every_family() {
    let handle = prometheus::install_recorder().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, prometheus::router(handle)).await });
    let github = Emulator::builder().start().await.unwrap();
    prometheus::work(&github).await.unwrap();

    let scraped = prometheus::scrape(addr).await.unwrap();
    for family in [
        "github_auth_exchanges_started_total",
        "github_auth_exchanges_finished_total",
        "github_auth_exchange_duration_seconds",
        "github_auth_requests_waited_total",
        "github_auth_request_wait_seconds",
        "github_auth_cache_hits_total",
        "github_auth_cache_misses_total",
        "github_auth_cache_entries",
        "github_auth_replays_total",
        "github_auth_backoffs_total",
    ] {
        assert!(
            scraped.lines().any(|line| line.starts_with(family)),
            "{family} not in:\n{scraped}"
        );
    }
    // Labelled by kind, host and outcome.
    assert!(
        scraped.lines().any(|line| {
            line.starts_with("github_auth_exchanges_finished_total{")
                && line.contains(r#"kind="installation_token""#)
                && line.contains(r#"host="127.0.0.1""#)
                && line.contains(r#"outcome="ok""#)
        }),
        "{scraped}"
    );
}
