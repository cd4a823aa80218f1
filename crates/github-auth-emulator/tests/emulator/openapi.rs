//! The emulator's answers, held against GitHub's own description of them: for every operation of
//! the OpenAPI excerpt (`tests/reference/github-openapi-auth-operations.json`, vendored into this
//! crate with its source, version and licence in `tests/reference/README.md`), each success and error answer the emulator gives is validated against that
//! operation's response schema for the status, with the file's `$ref`s resolved.
//!
//! OpenAPI 3.0 is not quite JSON Schema: `nullable: true` becomes `anyOf: [schema, null]`, and the
//! components are embedded under the root as `components` so that `#/components/schemas/x`
//! resolves. Statuses GitHub answers but the excerpt does not list (401 for a bad JWT, 404 for an
//! installation look-up that finds nothing, ...) are named in [`UNDOCUMENTED`] and checked against
//! GitHub's `basic-error`; any other status is a failure.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use base64::Engine as _;
use github_auth_emulator::{
    DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET, DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET, DEFAULT_PAT, DEFAULT_WEB_FLOW_CODE, Emulator,
};
use http::{Method, StatusCode};
use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

use crate::common::{Answer, Http, app_jwt, jwt_with};

/// Where the excerpt lives: vendored in this crate, so a fresh clone alone runs these tests.
fn excerpt_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/github-openapi-auth-operations.json")
}

/// The excerpt's provenance, as `tests/reference/README.md` records it.
const EXCERPT_SOURCE: &str = "@octokit/openapi@23.0.2";

/// Statuses the emulator gives, as GitHub does, that the excerpt does not list for the operation;
/// their bodies are checked against `basic-error`.
const UNDOCUMENTED: &[(&str, u16, &str)] = &[
    (
        "apps/create-installation-access-token",
        400,
        "a body that is not JSON",
    ),
    (
        "apps/create-installation-access-token",
        500,
        "an injected failure",
    ),
    ("apps/get-authenticated", 401, "a bad JWT"),
    ("apps/list-installations", 401, "a bad JWT"),
    ("apps/get-installation", 401, "a bad JWT"),
    ("apps/get-repo-installation", 401, "a bad JWT"),
    (
        "apps/get-org-installation",
        404,
        "no installation on the organization",
    ),
    (
        "apps/get-user-installation",
        404,
        "no installation on the user",
    ),
    (
        "apps/get-enterprise-installation",
        404,
        "no installation on the enterprise",
    ),
    ("apps/check-token", 401, "wrong client credentials"),
    ("apps/reset-token", 404, "an unknown token"),
    ("apps/delete-token", 404, "an unknown token"),
    ("apps/delete-authorization", 404, "an unknown token"),
    (
        "apps/revoke-installation-access-token",
        401,
        "a revoked or unknown token",
    ),
    (
        "apps/revoke-installation-access-token",
        403,
        "a PAT or user token",
    ),
];

/// Replaces OpenAPI 3.0's `nullable: true` by `anyOf: [schema, {"type": "null"}]`, everywhere
/// below `schema` (a `nullable` that is not a boolean is a property name, left alone).
fn translate(schema: &Value) -> Value {
    match schema {
        Value::Array(items) => Value::Array(items.iter().map(translate).collect()),
        Value::Object(map) => {
            let nullable = map.get("nullable").and_then(Value::as_bool);
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(key, value)| !(key.as_str() == "nullable" && value.is_boolean()))
                .map(|(key, value)| (key.clone(), translate(value)))
                .collect();
            if nullable == Some(true) {
                out = Map::from_iter([(
                    "anyOf".to_owned(),
                    json!([Value::Object(out), { "type": "null" }]),
                )]);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The excerpt, ready to validate against.
struct OpenApi {
    doc: Value,
    /// `components.schemas`, translated.
    schemas: Value,
}

impl OpenApi {
    fn load() -> Self {
        let path = excerpt_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read GitHub's OpenAPI excerpt at {} ({err}); the emulator's answers are \
                 validated against it; it is part of the repository \
                 (`crates/github-auth-emulator/tests/reference/`)",
                path.display()
            )
        });
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()));
        let schemas = translate(&doc["components"]["schemas"]);
        assert!(
            schemas.as_object().is_some_and(|s| !s.is_empty()),
            "{} has no components.schemas",
            path.display()
        );
        Self { doc, schemas }
    }

    /// The operation ids of the excerpt.
    fn operation_ids(&self) -> BTreeSet<String> {
        self.doc["operations"]
            .as_object()
            .expect("the excerpt has no `operations`")
            .values()
            .map(|op| op["operationId"].as_str().unwrap().to_owned())
            .collect()
    }

    /// An operation by id.
    fn operation(&self, id: &str) -> &Value {
        self.doc["operations"]
            .as_object()
            .unwrap()
            .values()
            .find(|op| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id} in the excerpt"))
    }

    /// The response object of `status`, with a `$ref` to `#/components/responses/...` followed.
    fn response(&self, id: &str, status: u16) -> Option<&Value> {
        let response = self.operation(id)["responses"].get(status.to_string())?;
        match response.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/responses/")
                    .unwrap_or_else(|| panic!("unexpected response $ref {reference}"));
                Some(&self.doc["components"]["responses"][name])
            }
            None => Some(response),
        }
    }

    /// A validator for `schema`, with the translated components embedded under the root.
    fn validator(&self, schema: &Value) -> Validator {
        let root = json!({
            "allOf": [translate(schema)],
            "components": { "schemas": self.schemas },
        });
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|err| panic!("the schema does not compile: {err}"))
    }
}

/// Validates answers and remembers what it saw and what failed.
struct Checker {
    api: OpenApi,
    validators: BTreeMap<(String, u16), Validator>,
    seen: BTreeSet<(String, u16)>,
    answers: usize,
    failures: Vec<String>,
}

impl Checker {
    fn new() -> Self {
        Self {
            api: OpenApi::load(),
            validators: BTreeMap::new(),
            seen: BTreeSet::new(),
            answers: 0,
            failures: Vec::new(),
        }
    }

    /// Checks `answer` as an answer of operation `id`; `what` names the case in failures.
    fn check(&mut self, id: &str, what: &str, answer: &Answer) {
        let status = answer.status.as_u16();
        self.seen.insert((id.to_owned(), status));
        self.answers += 1;
        let schema = match self.api.response(id, status) {
            Some(response) => response["content"]["application/json"]["schema"].clone(),
            None if UNDOCUMENTED
                .iter()
                .any(|&(op, code, _)| op == id && code == status) =>
            {
                json!({ "$ref": "#/components/schemas/basic-error" })
            }
            None => {
                self.failures.push(format!(
                    "{id} ({what}): status {status} is not in the excerpt nor in UNDOCUMENTED: {}",
                    String::from_utf8_lossy(&answer.body)
                ));
                return;
            }
        };
        if schema.is_null() {
            if !answer.body.is_empty() {
                self.failures.push(format!(
                    "{id} ({what}): {status} has no content in the excerpt, but a body: {}",
                    String::from_utf8_lossy(&answer.body)
                ));
            }
            return;
        }
        let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
            self.failures.push(format!(
                "{id} ({what}): {status} is not JSON: {}",
                String::from_utf8_lossy(&answer.body)
            ));
            return;
        };
        let api = &self.api;
        let validator = self
            .validators
            .entry((id.to_owned(), status))
            .or_insert_with(|| api.validator(&schema));
        for error in validator.iter_errors(&body) {
            self.failures.push(format!(
                "{id} ({what}): {status} at {}: {error}",
                error.instance_path()
            ));
        }
    }

    /// Fails with every mismatch found, or if an operation of the excerpt was never answered
    /// with a success.
    fn finish(self) {
        let mut failures = self.failures;
        for id in self.api.operation_ids() {
            let succeeded = self
                .seen
                .iter()
                .any(|(op, status)| *op == id && (200..300).contains(status));
            if !succeeded {
                failures.push(format!("{id}: no successful answer was checked"));
            }
        }
        for &(op, status, why) in UNDOCUMENTED {
            if !self.seen.contains(&(op.to_owned(), status)) {
                failures.push(format!(
                    "{op}: the undocumented {status} ({why}) was never seen"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatch(es) with GitHub's OpenAPI description:\n{}",
            failures.len(),
            failures.join("\n")
        );
        eprintln!(
            "{} answers checked: {} (operation, status) pairs over {} operations",
            self.answers,
            self.seen.len(),
            self.api.operation_ids().len()
        );
    }
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

/// `method /applications/{client_id}/{what}` with Basic credentials and a JSON body.
async fn application(
    http: &Http,
    method: Method,
    (client_id, secret): (&str, &str),
    what: &str,
    body: &Value,
) -> Answer {
    let auth = basic(client_id, secret);
    http.send(
        method,
        &format!("/applications/{client_id}/{what}"),
        &[("authorization", &auth)],
        Some(("application/json", body.to_string().into_bytes())),
        true,
    )
    .await
}

/// The `/app...` routes and the installation look-ups.
async fn app_routes(checker: &mut Checker, http: &Http) {
    let jwt = app_jwt();
    let op = "apps/get-authenticated";
    checker.check(op, "the app", &http.get("/app", Some(&jwt)).await);
    checker.check(op, "a PAT", &http.get("/app", Some(DEFAULT_PAT)).await);

    let op = "apps/list-installations";
    checker.check(op, "all", &http.get("/app/installations", Some(&jwt)).await);
    let paged = http
        .get("/app/installations?per_page=1&page=2", Some(&jwt))
        .await;
    assert!(paged.header("link").is_some());
    checker.check(op, "page 2", &paged);
    checker.check(op, "no JWT", &http.get("/app/installations", None).await);

    let op = "apps/get-installation";
    for id in [1, 2, 100] {
        let answer = http
            .get(&format!("/app/installations/{id}"), Some(&jwt))
            .await;
        checker.check(op, &format!("installation {id}"), &answer);
    }
    checker.check(
        op,
        "unknown",
        &http.get("/app/installations/42", Some(&jwt)).await,
    );
    checker.check(
        op,
        "a PAT",
        &http.get("/app/installations/1", Some(DEFAULT_PAT)).await,
    );

    let cases = [
        (
            "apps/get-repo-installation",
            "/repos/octo/one/installation",
            "/repos/octo/nope/installation",
        ),
        (
            "apps/get-org-installation",
            "/orgs/octo/installation",
            "/orgs/nobody/installation",
        ),
        (
            "apps/get-user-installation",
            "/users/monalisa/installation",
            "/users/nobody/installation",
        ),
        (
            "apps/get-enterprise-installation",
            "/enterprises/octo-enterprise/installation",
            "/enterprises/nobody/installation",
        ),
    ];
    for (op, found, missing) in cases {
        checker.check(op, found, &http.get(found, Some(&jwt)).await);
        checker.check(op, missing, &http.get(missing, Some(&jwt)).await);
    }
    let org_as_user = http.get("/users/octo/installation", Some(&jwt)).await;
    checker.check(
        "apps/get-user-installation",
        "an organization",
        &org_as_user,
    );
    let bad = http
        .get("/repos/octo/one/installation", Some("not-a-jwt"))
        .await;
    checker.check("apps/get-repo-installation", "bad credentials", &bad);
}

/// Minting installation tokens, and what those tokens do with themselves.
async fn installation_tokens(
    checker: &mut Checker,
    http: &Http,
    emulator: &github_auth_emulator::EmulatorHandle,
) {
    let jwt = app_jwt();
    let op = "apps/create-installation-access-token";
    let path = "/app/installations/1/access_tokens";
    checker.check(
        op,
        "all",
        &http.post_json(path, Some(&jwt), &Value::Null).await,
    );
    let narrowed = json!({ "repositories": ["one", "two"], "permissions": { "contents": "read" } });
    checker.check(
        op,
        "narrowed",
        &http.post_json(path, Some(&jwt), &narrowed).await,
    );
    checker.check(
        op,
        "no JWT",
        &http.post_json(path, None, &Value::Null).await,
    );
    checker.check(
        op,
        "a PAT",
        &http.post_json(path, Some(DEFAULT_PAT), &Value::Null).await,
    );
    let unknown = http
        .post_json(
            "/app/installations/42/access_tokens",
            Some(&jwt),
            &Value::Null,
        )
        .await;
    checker.check(op, "unknown installation", &unknown);
    let foreign = json!({ "repositories": ["hello"] });
    checker.check(
        op,
        "bad narrowing",
        &http.post_json(path, Some(&jwt), &foreign).await,
    );
    let auth = format!("Bearer {jwt}");
    for (what, value) in [
        ("stateless forced", "enabled"),
        ("classic forced", "disabled"),
        ("bad format header", "on"),
    ] {
        let answer = http
            .send(
                Method::POST,
                path,
                &[
                    ("authorization", &auth),
                    ("x-github-stateless-s2s-token", value),
                ],
                None,
                true,
            )
            .await;
        checker.check(op, what, &answer);
    }
    let not_json = http
        .send(
            Method::POST,
            path,
            &[("authorization", &auth)],
            Some(("application/json", b"{not json".to_vec())),
            true,
        )
        .await;
    checker.check(op, "not JSON", &not_json);
    let no_agent = http
        .send(Method::POST, path, &[("authorization", &auth)], None, false)
        .await;
    checker.check(op, "no User-Agent", &no_agent);
    emulator.fail_next_exchanges(1);
    checker.check(
        op,
        "injected failure",
        &http.post_json(path, Some(&jwt), &Value::Null).await,
    );

    let op = "apps/list-repos-accessible-to-installation";
    let all = http.installation_token(1, &Value::Null).await;
    let narrowed = http
        .installation_token(1, &json!({ "repository_ids": [1001] }))
        .await;
    let list = "/installation/repositories";
    checker.check(op, "all", &http.get(list, Some(&all)).await);
    checker.check(op, "narrowed", &http.get(list, Some(&narrowed)).await);
    checker.check(
        op,
        "paged",
        &http
            .get(&format!("{list}?per_page=1&page=2"), Some(&all))
            .await,
    );
    checker.check(op, "a PAT", &http.get(list, Some(DEFAULT_PAT)).await);
    checker.check(op, "nothing", &http.get(list, None).await);
    checker.check(
        op,
        "unknown token",
        &http.get(list, Some("ghs_unknown")).await,
    );

    let op = "apps/revoke-installation-access-token";
    checker.check(
        op,
        "the token",
        &http.delete("/installation/token", Some(&all)).await,
    );
    checker.check(
        op,
        "again",
        &http.delete("/installation/token", Some(&all)).await,
    );
    checker.check(
        op,
        "a PAT",
        &http.delete("/installation/token", Some(DEFAULT_PAT)).await,
    );
}

/// `GET /user`, and the `/applications/{client_id}/...` routes.
async fn user_routes(
    checker: &mut Checker,
    http: &Http,
    emulator: &github_auth_emulator::EmulatorHandle,
) {
    let op = "users/get-authenticated";
    checker.check(op, "a PAT", &http.get("/user", Some(DEFAULT_PAT)).await);
    let app_user = http
        .app_code_exchange(&emulator.issue_web_flow_code("monalisa"))
        .await;
    let app_user = app_user["access_token"].as_str().unwrap().to_owned();
    checker.check(
        op,
        "a GitHub App user token",
        &http.get("/user", Some(&app_user)).await,
    );
    let installation = http.installation_token(2, &Value::Null).await;
    checker.check(
        op,
        "an installation token",
        &http.get("/user", Some(&installation)).await,
    );
    checker.check(op, "nothing", &http.get("/user", None).await);
    checker.check(
        op,
        "unknown token",
        &http.get("/user", Some("ghp_unknown")).await,
    );

    let oauth = (DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET);
    let token = http.oauth_code_exchange(DEFAULT_WEB_FLOW_CODE).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    let body = json!({ "access_token": token });
    let op = "apps/check-token";
    checker.check(
        op,
        "an OAuth app token",
        &application(http, Method::POST, oauth, "token", &body).await,
    );
    let app = (DEFAULT_APP_CLIENT_ID, DEFAULT_APP_CLIENT_SECRET);
    let app_body = json!({ "access_token": app_user });
    checker.check(
        op,
        "a GitHub App token",
        &application(http, Method::POST, app, "token", &app_body).await,
    );
    let unknown = json!({ "access_token": "gho_unknown" });
    checker.check(
        op,
        "unknown token",
        &application(http, Method::POST, oauth, "token", &unknown).await,
    );
    checker.check(
        op,
        "no token",
        &application(http, Method::POST, oauth, "token", &json!({})).await,
    );
    let wrong = (DEFAULT_OAUTH_CLIENT_ID, "wrong");
    checker.check(
        op,
        "wrong secret",
        &application(http, Method::POST, wrong, "token", &body).await,
    );

    let op = "apps/reset-token";
    let reset = application(http, Method::PATCH, oauth, "token", &body).await;
    let fresh = reset.json()["token"].as_str().unwrap().to_owned();
    checker.check(op, "a token", &reset);
    checker.check(
        op,
        "no token",
        &application(http, Method::PATCH, oauth, "token", &json!({})).await,
    );
    checker.check(
        op,
        "the old token",
        &application(http, Method::PATCH, oauth, "token", &body).await,
    );

    let op = "apps/delete-token";
    let fresh_body = json!({ "access_token": fresh });
    checker.check(
        op,
        "a token",
        &application(http, Method::DELETE, oauth, "token", &fresh_body).await,
    );
    checker.check(
        op,
        "no token",
        &application(http, Method::DELETE, oauth, "token", &json!({})).await,
    );
    checker.check(
        op,
        "deleted token",
        &application(http, Method::DELETE, oauth, "token", &fresh_body).await,
    );

    let op = "apps/delete-authorization";
    let granted = http
        .oauth_code_exchange(&emulator.issue_web_flow_code("octocat"))
        .await;
    let granted = json!({ "access_token": granted["access_token"] });
    checker.check(
        op,
        "a token",
        &application(http, Method::DELETE, oauth, "grant", &granted).await,
    );
    checker.check(
        op,
        "no token",
        &application(http, Method::DELETE, oauth, "grant", &json!({})).await,
    );
    checker.check(
        op,
        "revoked token",
        &application(http, Method::DELETE, oauth, "grant", &granted).await,
    );
}

/// The App-manifest flow, and the new app's own `/app` routes.
async fn manifest_routes(
    checker: &mut Checker,
    http: &Http,
    emulator: &github_auth_emulator::EmulatorHandle,
) {
    let op = "apps/create-from-manifest";
    let convert = |code: String| async move {
        http.post_json(
            &format!("/app-manifests/{code}/conversions"),
            None,
            &Value::Null,
        )
        .await
    };
    let full = json!({
        "name": "Schema Check",
        "url": "https://example.com",
        "hook_attributes": { "url": "https://example.com/hook" },
        "default_permissions": { "contents": "write" },
        "default_events": ["push"],
    });
    let code = emulator.issue_manifest_code(&full);
    let created = convert(code.clone()).await;
    checker.check(op, "with a hook", &created);
    checker.check(op, "a used code", &convert(code).await);
    let bare = emulator.issue_manifest_code(&json!({ "url": "https://example.com" }));
    checker.check(op, "without a hook or name", &convert(bare).await);
    let invalid = emulator.issue_manifest_code(&json!({ "name": "No URL" }));
    checker.check(op, "no url", &convert(invalid).await);

    let app = created.json();
    let jwt = jwt_with(app["pem"].as_str().unwrap(), &app["id"]);
    checker.check(
        "apps/get-authenticated",
        "a manifest app",
        &http.get("/app", Some(&jwt)).await,
    );
    let list = http.get("/app/installations", Some(&jwt)).await;
    checker.check("apps/list-installations", "a manifest app", &list);
    let id = list.json()[0]["id"].as_u64().unwrap();
    let minted = http
        .post_json(
            &format!("/app/installations/{id}/access_tokens"),
            Some(&jwt),
            &json!({ "repository_ids": [1000] }),
        )
        .await;
    checker.check(
        "apps/create-installation-access-token",
        "a manifest app",
        &minted,
    );
}

#[tokio::test]
async fn every_answer_matches_githubs_openapi_description() {
    let mut checker = Checker::new();
    let emulator = Emulator::start().await.unwrap();
    let http = Http::new(&emulator);
    app_routes(&mut checker, &http).await;
    installation_tokens(&mut checker, &http, &emulator).await;
    user_routes(&mut checker, &http, &emulator).await;
    manifest_routes(&mut checker, &http, &emulator).await;
    assert_eq!(emulator.counters().requests_without_user_agent, 1);
    checker.finish();
}

#[test]
fn nullable_becomes_any_of_null() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "nullable": true },
            "nullable": { "type": "boolean" },
            "state": { "type": "string", "enum": ["a", "b"], "nullable": true },
            "owner": { "nullable": true, "allOf": [{ "$ref": "#/components/schemas/x" }] },
        },
    });
    let translated = translate(&schema);
    assert_eq!(
        translated["properties"]["name"],
        json!({ "anyOf": [{ "type": "string" }, { "type": "null" }] })
    );
    assert_eq!(
        translated["properties"]["nullable"],
        json!({ "type": "boolean" })
    );
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&json!({
            "allOf": [translated],
            "components": { "schemas": { "x": { "type": "object", "required": ["id"] } } },
        }))
        .unwrap();
    assert!(validator.is_valid(&json!({ "name": null, "state": null, "owner": null })));
    assert!(validator.is_valid(&json!({ "name": "n", "state": "a", "owner": { "id": 1 } })));
    assert!(!validator.is_valid(&json!({ "state": "c" })));
    assert!(
        !validator.is_valid(&json!({ "owner": {} })),
        "the $ref resolves"
    );
    assert!(!validator.is_valid(&json!({ "nullable": null })));
}

#[test]
fn the_excerpt_is_vendored_with_its_provenance() {
    // The file is in the repository, inside this crate: a fresh clone with nothing beside it
    // runs these tests. A missing file fails loudly, never skips.
    let path = excerpt_path();
    assert!(
        path.starts_with(env!("CARGO_MANIFEST_DIR")),
        "the excerpt must be read from inside the crate, not from {}",
        path.display()
    );
    assert!(
        path.is_file(),
        "GitHub's OpenAPI excerpt is missing: {}",
        path.display()
    );
    let api = OpenApi::load();
    assert_eq!(api.operation_ids().len(), 16);
    // The file names where it came from, and the note beside it says the same and its licence.
    assert_eq!(api.doc["source"]["npm"], EXCERPT_SOURCE);
    assert_eq!(api.doc["source"]["openapi"], "3.0.3");
    let note_path = path.with_file_name("README.md");
    let note = std::fs::read_to_string(&note_path)
        .unwrap_or_else(|err| panic!("cannot read {} ({err})", note_path.display()));
    for needle in [EXCERPT_SOURCE, "github/rest-api-description", "MIT"] {
        assert!(
            note.contains(needle),
            "{} does not mention {needle}",
            note_path.display()
        );
    }
}

#[test]
fn a_wrong_answer_is_caught() {
    let answer = |status: StatusCode, body: &Value| Answer {
        status,
        headers: http::HeaderMap::new(),
        body: body.to_string().into(),
    };
    let mut checker = Checker::new();
    let op = "apps/create-installation-access-token";
    checker.check(
        op,
        "no token",
        &answer(StatusCode::CREATED, &json!({ "expires_at": "x" })),
    );
    checker.check(
        op,
        "a repository without its URLs",
        &answer(
            StatusCode::CREATED,
            &json!({ "token": "t", "expires_at": "x", "repositories": [{ "id": 1 }] }),
        ),
    );
    checker.check(
        op,
        "an unlisted status",
        &answer(StatusCode::IM_A_TEAPOT, &json!({})),
    );
    checker.check(
        "apps/get-installation",
        "a message that is not a string",
        &answer(StatusCode::NOT_FOUND, &json!({ "message": 404 })),
    );
    let failures = checker.failures.join("\n");
    assert!(
        failures.contains("\"token\" is a required property"),
        "{failures}"
    );
    assert!(failures.contains("/repositories/0"), "{failures}");
    assert!(failures.contains("status 418"), "{failures}");
    assert!(failures.contains("/message"), "{failures}");
}
