//! The app's installations: `GET /app/installations` a page at a time, the enterprise
//! installation, and reinstalling under a new id.

use github_auth_emulator::{DEFAULT_PAT, Emulator};
use http::StatusCode;
use serde_json::Value;

use crate::common::{Http, app_jwt, links};

fn ids(answer: &Value) -> Vec<u64> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|inst| inst["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_default_world_has_three_installations() {
    let emulator = Emulator::start().await.unwrap();
    let answer = Http::new(&emulator)
        .get("/app/installations", Some(&app_jwt()))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("link").is_none());
    let list = answer.json();
    assert_eq!(ids(&list), [1, 2, 100]);
    assert_eq!(list[2]["target_type"], "Enterprise");
    assert_eq!(list[2]["account"]["slug"], "octo-enterprise");
}

#[tokio::test]
async fn installations_come_a_page_at_a_time() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let base = emulator.base_url();
    let jwt = app_jwt();

    let first = http.get("/app/installations?per_page=1", Some(&jwt)).await;
    assert_eq!(ids(&first.json()), [1]);
    assert_eq!(
        first.header("link").unwrap(),
        format!(
            "<{base}/app/installations?per_page=1&page=2>; rel=\"next\", \
             <{base}/app/installations?per_page=1&page=3>; rel=\"last\""
        )
    );

    let middle = http
        .get("/app/installations?per_page=1&page=2", Some(&jwt))
        .await;
    assert_eq!(ids(&middle.json()), [2]);
    assert_eq!(
        middle.header("link").unwrap(),
        format!(
            "<{base}/app/installations?per_page=1&page=1>; rel=\"prev\", \
             <{base}/app/installations?per_page=1&page=3>; rel=\"next\", \
             <{base}/app/installations?per_page=1&page=3>; rel=\"last\", \
             <{base}/app/installations?per_page=1&page=1>; rel=\"first\""
        )
    );

    let second_of_two = http
        .get("/app/installations?page=2&per_page=2", Some(&jwt))
        .await;
    assert_eq!(ids(&second_of_two.json()), [100]);
    let rels = links(&second_of_two);
    assert_eq!(
        rels["prev"],
        format!("{base}/app/installations?per_page=2&page=1")
    );
    assert!(!rels.contains_key("next"));

    // GitHub Enterprise Server's prefix is kept in the links.
    let ghes = http
        .get("/api/v3/app/installations?per_page=2", Some(&jwt))
        .await;
    assert_eq!(
        links(&ghes)["next"],
        format!("{base}/api/v3/app/installations?per_page=2&page=2")
    );
    assert_eq!(emulator.counters().jwts_verified, 4);
}

#[tokio::test]
async fn enterprise_installation_lookup() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let answer = http
        .get(
            "/enterprises/octo-enterprise/installation",
            Some(&app_jwt()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let inst = answer.json();
    assert_eq!(inst["id"], 100);
    assert_eq!(inst["target_type"], "Enterprise");
    assert_eq!(inst["account"]["slug"], "octo-enterprise");
    assert_eq!(
        inst["account"]["html_url"],
        format!("{}/enterprises/octo-enterprise", emulator.base_url())
    );
    // Organizations are not enterprises, and the other way round.
    for path in [
        "/enterprises/octo/installation",
        "/enterprises/nobody/installation",
        "/orgs/octo-enterprise/installation",
        "/users/octo-enterprise/installation",
    ] {
        assert_eq!(
            http.get(path, Some(&app_jwt())).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(emulator.counters().refusals_for("unknown_installation"), 4);
    // A token can be minted for it; a PAT cannot look it up.
    let token = http.installation_token(100, &Value::Null).await;
    assert!(token.starts_with("ghs_"));
    let pat = http
        .get(
            "/enterprises/octo-enterprise/installation",
            Some(DEFAULT_PAT),
        )
        .await;
    assert_eq!(pat.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reinstalling_moves_the_account_to_a_new_id() {
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    let old_token = http.installation_token(1, &Value::Null).await;

    let new_id = emulator.reinstall(1);
    assert_ne!(new_id, 1);
    assert!(![2, 100].contains(&new_id));

    let jwt = app_jwt();
    let mint = http
        .post_json(
            "/app/installations/1/access_tokens",
            Some(&jwt),
            &Value::Null,
        )
        .await;
    assert_eq!(mint.status, StatusCode::NOT_FOUND);
    assert_eq!(
        http.get("/app/installations/1", Some(&jwt)).await.status,
        StatusCode::NOT_FOUND
    );
    for path in [
        "/repos/octo/one/installation",
        "/orgs/octo/installation",
        "/users/octo/installation",
    ] {
        let answer = http.get(path, Some(&jwt)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.json()["id"], new_id, "{path}");
    }
    let list = http.get("/app/installations", Some(&jwt)).await.json();
    assert_eq!(ids(&list), [2, 100, new_id]);

    // The old installation's tokens went with it; the new one mints tokens for the same repositories.
    let refused = http.get("/repos/octo/one", Some(&old_token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.counters().refusals_for("token_revoked"), 1);
    let token = http.installation_token(new_id, &Value::Null).await;
    let repo = http.get("/repos/octo/one", Some(&token)).await;
    assert_eq!(repo.status, StatusCode::OK);
    assert_eq!(repo.json()["emulator"]["installation_id"], new_id);

    // Reinstalling again gives yet another id.
    let newer = emulator.reinstall(new_id);
    assert!(newer != new_id && newer != 1);
}

#[tokio::test]
#[should_panic(expected = "no installation 42")]
async fn reinstalling_an_unknown_installation_panics() {
    let emulator = Emulator::start().await.unwrap();
    emulator.reinstall(42);
}
