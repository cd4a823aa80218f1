//! The `ghtoken` binary end to end, against an emulator started by each test.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use github_auth_emulator::{DeviceOutcome, Emulator, EmulatorBuilder, EmulatorHandle};

/// An emulator (kept alive by its runtime while commands run), a temp dir and the test key in it.
struct World {
    runtime: tokio::runtime::Runtime,
    github: EmulatorHandle,
    dir: PathBuf,
    key: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn world() -> World {
    world_with(Emulator::builder())
}

fn world_with(builder: EmulatorBuilder) -> World {
    static N: AtomicUsize = AtomicUsize::new(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let github = runtime.block_on(builder.start()).expect("emulator");
    let dir = std::env::temp_dir().join(format!(
        "ghtoken-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key = dir.join("app.pem");
    std::fs::write(&key, github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1).expect("key");
    World {
        runtime,
        github,
        dir,
        key,
    }
}

/// `ghtoken` with a clean environment (no Actions or GitHub variables of the machine running
/// the tests).
fn bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ghtoken"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("GITHUB_")
            || name.starts_with("GHTOKEN_")
            || name.starts_with("RUNNER_")
        {
            command.env_remove(name);
        }
    }
    command
}

impl World {
    /// `ghtoken --api-url <emulator> args...`.
    fn ghtoken(&self, args: &[&str]) -> Command {
        let mut command = bare();
        command
            .arg("--api-url")
            .arg(self.github.base_url())
            .args(args);
        command
    }

    /// `ghtoken --api-url <emulator> installation --app-id 1 --private-key <key> args...`.
    fn installation(&self, args: &[&str]) -> Command {
        let mut command = self.ghtoken(&["installation", "--app-id", "1", "--private-key"]);
        command.arg(&self.key).args(args);
        command
    }
}

impl World {
    /// A user token set of the default GitHub App for `octocat` (expiring, with a refresh
    /// token), from the web flow run with the library.
    fn user_tokens(&self) -> (String, String) {
        use tower_github_auth::secrecy::ExposeSecret;
        use tower_github_auth::{ClientCredentials, Endpoints, OAuthAppAuth};

        let code = self.github.issue_web_flow_code("octocat");
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let endpoints = Endpoints::single(&self.github.base_url()).expect("endpoints");
        let flow = OAuthAppAuth::new(ClientCredentials::new(APP_CLIENT_ID, APP_CLIENT_SECRET))
            .endpoints(endpoints)
            .as_web_user(code)
            .build();
        let set = self
            .runtime
            .block_on(flow.fetch_token(&client))
            .expect("web flow");
        let access = set.access_token.expect("access token");
        let refresh = set.refresh_token.expect("refresh token");
        (
            access.expose_secret().to_owned(),
            refresh.expose_secret().to_owned(),
        )
    }
}

const APP_CLIENT_ID: &str = github_auth_emulator::DEFAULT_APP_CLIENT_ID;
const APP_CLIENT_SECRET: &str = github_auth_emulator::DEFAULT_APP_CLIENT_SECRET;

/// Runs `command` with `input` on its stdin.
fn with_stdin(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

fn run(command: &mut Command) -> Output {
    command.output().expect("ghtoken runs")
}

fn ok(command: &mut Command) -> (String, String) {
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "ghtoken failed ({:?}): stdout {stdout} stderr {stderr}",
        output.status
    );
    (stdout, stderr)
}

fn fails(command: &mut Command, code: i32) -> String {
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    stderr
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).expect("JSON on stdout")
}

#[test]
fn installation_by_id_prints_the_token() {
    let world = world();
    let (stdout, stderr) = ok(&mut world.installation(&["--installation", "1"]));
    let token = stdout.trim();
    assert!(token.starts_with("ghs_"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn installation_json_has_the_details() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&[
        "--installation",
        "1",
        "--permission",
        "contents=read",
        "--format",
        "json",
    ]));
    let answer = json(&stdout);
    assert!(
        answer["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ghs_"))
    );
    assert_eq!(answer["installation_id"], 1);
    assert_eq!(answer["app_slug"], "emulator-app");
    assert_eq!(
        answer["permissions"],
        serde_json::json!({"contents": "read"})
    );
    let expires = answer["expires_at"].as_str().expect("expires_at");
    assert!(expires.ends_with('Z') && expires.contains('T'), "{expires}");
    assert!(answer["repositories"].is_array());
}

#[test]
fn installation_env_format() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&["--installation", "2", "--format", "env"]));
    assert!(stdout.starts_with("GH_TOKEN=ghs_"), "{stdout}");
}

#[test]
fn installation_by_client_id_and_key_from_the_environment() {
    let world = world();
    let mut command = world.ghtoken(&[
        "installation",
        "--client-id",
        github_auth_emulator::DEFAULT_APP_CLIENT_ID,
        "--installation",
        "1",
    ]);
    command.env(
        "GHTOKEN_PRIVATE_KEY",
        github_auth_emulator::TEST_APP_PRIVATE_KEY_PKCS1,
    );
    let (stdout, _) = ok(&mut command);
    assert!(stdout.starts_with("ghs_"), "{stdout}");
}

#[test]
fn owner_only_is_the_organization_installation() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&["--owner", "octo", "--format", "json"]));
    assert_eq!(json(&stdout)["installation_id"], 1);
}

#[test]
fn owner_only_falls_back_to_the_user_installation() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&["--owner", "monalisa", "--format", "json"]));
    assert_eq!(json(&stdout)["installation_id"], 2);
}

#[test]
fn owner_and_repositories_narrow_the_token() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&[
        "--owner",
        "octo",
        "--repositories",
        "two,\none",
        "--format",
        "json",
    ]));
    let answer = json(&stdout);
    assert_eq!(answer["installation_id"], 1);
    let repositories = answer["repositories"].as_array().expect("repositories");
    assert_eq!(repositories.len(), 2, "{answer}");
    assert_eq!(answer["repository_selection"], "selected");
}

#[test]
fn repositories_only_take_the_current_owner() {
    let world = world();
    let mut command = world.installation(&["--repositories", "two", "--format", "json"]);
    command.env("GITHUB_REPOSITORY", "octo/one");
    let (stdout, _) = ok(&mut command);
    let answer = json(&stdout);
    assert_eq!(answer["installation_id"], 1);
    assert_eq!(answer["repositories"].as_array().map(Vec::len), Some(1));
}

#[test]
fn neither_owner_nor_repositories_is_the_current_repository() {
    let world = world();
    let mut command = world.installation(&["--format", "json"]);
    command.env("GITHUB_REPOSITORY", "monalisa/hello");
    let (stdout, _) = ok(&mut command);
    let answer = json(&stdout);
    assert_eq!(answer["installation_id"], 2);
    assert_eq!(answer["repositories"].as_array().map(Vec::len), Some(1));
}

#[test]
fn neither_owner_nor_repositories_outside_a_workflow_is_a_usage_error() {
    let world = world();
    let stderr = fails(&mut world.installation(&[]), 2);
    assert!(stderr.contains("GITHUB_REPOSITORY"), "{stderr}");
}

#[test]
fn enterprise_installation() {
    let world = world();
    let (stdout, _) =
        ok(&mut world.installation(&["--enterprise", "octo-enterprise", "--format", "json"]));
    assert_eq!(json(&stdout)["installation_id"], 100);
}

#[test]
fn actions_mode_masks_first_and_writes_the_outputs() {
    let world = world();
    let output_file = world.dir.join("github_output");
    std::fs::write(&output_file, "earlier=1\n").expect("output file");
    let mut command = world.installation(&["--owner", "octo"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file);
    let (stdout, _) = ok(&mut command);
    let mut lines = stdout.lines();
    let mask = lines.next().expect("mask line");
    let token = mask.strip_prefix("::add-mask::").expect("masked first");
    assert!(token.starts_with("ghs_"));
    assert_eq!(lines.next(), Some(token));
    let outputs = std::fs::read_to_string(&output_file).expect("outputs");
    assert_eq!(
        outputs,
        format!("earlier=1\ntoken={token}\ninstallation-id=1\napp-slug=emulator-app\n")
    );
}

#[test]
fn usage_error_exits_2() {
    let world = world();
    fails(
        &mut world.ghtoken(&["installation", "--installation", "1"]),
        2,
    );
    fails(&mut world.ghtoken(&["installation", "--app-id", "x"]), 2);
    fails(&mut world.ghtoken(&["no-such-command"]), 2);
}

#[test]
fn missing_private_key_is_a_usage_error() {
    let world = world();
    let stderr = fails(
        &mut world.ghtoken(&["installation", "--app-id", "1", "--installation", "1"]),
        2,
    );
    assert!(stderr.contains("GHTOKEN_PRIVATE_KEY"), "{stderr}");
}

#[test]
fn unknown_installation_is_refused_with_exit_3_and_one_line() {
    let world = world();
    let stderr = fails(&mut world.installation(&["--installation", "999"]), 3);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("404"),
        "{stderr}"
    );
}

#[test]
fn unreachable_api_exits_4() {
    let world = world();
    let mut command = bare();
    command
        .args([
            "--api-url",
            "http://127.0.0.1:1",
            "installation",
            "--app-id",
            "1",
        ])
        .arg("--private-key")
        .arg(&world.key)
        .args(["--installation", "1"]);
    let stderr = fails(&mut command, 4);
    assert!(stderr.contains("--api-url"), "{stderr}");
    assert!(!stderr.contains("installed"), "no refusal hint: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn verbose_logs_requests_without_secrets() {
    let world = world();
    let (stdout, stderr) =
        ok(&mut world.installation(&["--verbose", "--installation", "1", "--format", "json"]));
    let token = json(&stdout)["token"].as_str().expect("token").to_owned();
    assert!(stderr.contains("POST http://127.0.0.1"), "{stderr}");
    assert!(
        stderr.contains("/app/installations/1/access_tokens (auth: Bearer ***) -> 201"),
        "{stderr}"
    );
    assert!(stderr.contains("GET http://127.0.0.1"), "{stderr}");
    assert!(
        !stderr.contains(&token) && !stderr.contains("eyJ"),
        "{stderr}"
    );
}

#[test]
fn help_shows_an_example_and_the_exit_codes() {
    for command in [
        vec!["--help"],
        vec!["installation", "--help"],
        vec!["jwt", "--help"],
        vec!["revoke", "--help"],
        vec!["refresh", "--help"],
        vec!["check", "--help"],
        vec!["device", "--help"],
    ] {
        let (stdout, _) = ok(bare().args(&command));
        assert!(stdout.contains("Example"), "{command:?}: {stdout}");
        assert!(
            stdout.contains("Exit codes") && stdout.contains("3  refused"),
            "{command:?}"
        );
    }
}

#[test]
fn jwt_prints_an_app_jwt() {
    let world = world();
    let mut command = world.ghtoken(&["jwt", "--app-id", "1", "--private-key"]);
    command.arg(&world.key);
    let (stdout, _) = ok(&mut command);
    let jwt = stdout.trim();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    assert!(jwt.starts_with("eyJ"));
}

#[test]
fn revoke_ends_the_token_given_or_piped() {
    let world = world();
    for piped in [false, true] {
        let (stdout, _) = ok(&mut world.installation(&["--installation", "1"]));
        let token = stdout.trim().to_owned();
        let mut command = if piped {
            world.ghtoken(&["revoke"])
        } else {
            world.ghtoken(&["revoke", &token])
        };
        if piped {
            command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().expect("spawn");
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("stdin");
                writeln!(stdin, "{token}").expect("write token");
            }
            let output = child.wait_with_output().expect("wait");
            assert!(output.status.success(), "{output:?}");
        } else {
            ok(&mut command);
        }
        // The token is refused from then on: a second revoke finds it ended.
        let (_, stderr) = ok(&mut world.ghtoken(&["revoke", &token]));
        assert!(stderr.contains("already"), "{stderr}");
    }
}

#[test]
fn revoke_of_a_user_token_is_refused() {
    let world = world();
    let stderr = fails(
        &mut world.ghtoken(&["revoke", github_auth_emulator::DEFAULT_PAT]),
        3,
    );
    assert!(
        !stderr.contains(github_auth_emulator::DEFAULT_PAT),
        "{stderr}"
    );
}

#[test]
fn refresh_gives_a_new_pair_and_spends_the_old_one() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let (stdout, _) = ok(&mut world.ghtoken(&[
        "refresh",
        "--client-id",
        APP_CLIENT_ID,
        "--client-secret",
        APP_CLIENT_SECRET,
        "--refresh-token",
        &refresh,
    ]));
    let answer = json(&stdout);
    let access = answer["access_token"].as_str().expect("access_token");
    let new_refresh = answer["refresh_token"].as_str().expect("refresh_token");
    assert!(access.starts_with("ghu_"), "{answer}");
    assert_ne!(new_refresh, refresh);
    assert!(
        answer["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // The new refresh token from stdin, the secret from the environment.
    let mut command = world.ghtoken(&["refresh", "--client-id", APP_CLIENT_ID]);
    command.env("GHTOKEN_CLIENT_SECRET", APP_CLIENT_SECRET);
    let output = with_stdin(&mut command, &format!("{new_refresh}\n"));
    assert!(output.status.success(), "{output:?}");
    assert!(json(&String::from_utf8_lossy(&output.stdout))["access_token"].is_string());

    // The first one is spent.
    let stderr = fails(
        &mut world.ghtoken(&[
            "refresh",
            "--client-id",
            APP_CLIENT_ID,
            "--client-secret",
            APP_CLIENT_SECRET,
            "--refresh-token",
            &refresh,
        ]),
        3,
    );
    assert!(stderr.contains("bad_refresh_token"), "{stderr}");
    assert!(
        !stderr.contains(&refresh) && !stderr.contains(APP_CLIENT_SECRET),
        "{stderr}"
    );
}

#[test]
fn check_tells_valid_and_for_whom() {
    let world = world();
    let (access, _) = world.user_tokens();
    let check = |args: &[&str]| {
        let mut command = world.ghtoken(&[
            "check",
            "--client-id",
            APP_CLIENT_ID,
            "--client-secret",
            APP_CLIENT_SECRET,
        ]);
        command.args(args);
        command
    };
    let (stdout, _) = ok(&mut check(&[&access]));
    assert!(stdout.starts_with("valid: token of octocat"), "{stdout}");
    let (stdout, _) = ok(&mut check(&["--json", &access]));
    let answer = json(&stdout);
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["login"], "octocat");

    let stderr = fails(&mut check(&["ghu_not_a_token"]), 3);
    assert!(stderr.contains("not valid"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn check_with_a_wrong_secret_is_refused() {
    let world = world();
    let (access, _) = world.user_tokens();
    let stderr = fails(
        &mut world.ghtoken(&[
            "check",
            "--client-id",
            APP_CLIENT_ID,
            "--client-secret",
            "wrong-secret",
            &access,
        ]),
        3,
    );
    assert!(
        !stderr.contains("wrong-secret") && !stderr.contains(&access),
        "{stderr}"
    );
}

fn no_terminal_bytes(stderr: &str) {
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "spinner or ANSI bytes in stderr: {stderr:?}"
    );
}

#[test]
fn device_flow_end_to_end() {
    let world = world_with(
        Emulator::builder()
            .device_outcome(DeviceOutcome::ApproveAfter(2))
            .device_interval(1),
    );
    let mut command = world.ghtoken(&[
        "device",
        "--client-id",
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID,
        "--scopes",
        "repo,read:org",
    ]);
    command.stdin(std::process::Stdio::null());
    let (stdout, stderr) = ok(&mut command);
    let mut lines = stderr.lines();
    let first = lines.next().expect("code line");
    let code = first
        .strip_prefix("! First copy your one-time code: ")
        .expect("the code first");
    assert!(code.len() >= 8 && code.contains('-'), "{code}");
    let second = lines.next().expect("URL line");
    assert!(second.contains("/login/device"), "{second}");
    assert!(!stderr.contains("Press Enter"), "{stderr}");
    assert!(stderr.contains("✓ Authentication complete."), "{stderr}");
    assert!(stderr.contains("✓ Logged in as octocat"), "{stderr}");
    no_terminal_bytes(&stderr);
    let answer = json(&stdout);
    let token = answer["access_token"].as_str().expect("access_token");
    assert!(
        token.starts_with("gho_") || token.starts_with("ghu_"),
        "{answer}"
    );
    assert!(!stderr.contains(token));
    assert_eq!(answer["scopes"], serde_json::json!(["repo", "read:org"]));
}

#[test]
fn device_flow_denied_exits_3() {
    let world = world_with(
        Emulator::builder()
            .device_outcome(DeviceOutcome::Deny)
            .device_interval(1),
    );
    let mut command = world.ghtoken(&[
        "device",
        "--client-id",
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID,
    ]);
    command.stdin(std::process::Stdio::null());
    let stderr = fails(&mut command, 3);
    assert!(stderr.contains("access_denied"), "{stderr}");
    no_terminal_bytes(&stderr);
}

#[test]
fn github_api_url_from_the_environment() {
    let world = world();
    let mut command = bare();
    command
        .env("GITHUB_API_URL", world.github.base_url())
        .args(["jwt", "--app-id", "1", "--private-key"])
        .arg(&world.key);
    ok(&mut command);
    let mut command = bare();
    command
        .env("GITHUB_API_URL", world.github.base_url())
        .args([
            "installation",
            "--app-id",
            "1",
            "--installation",
            "1",
            "--private-key",
        ])
        .arg(&world.key);
    let (stdout, _) = ok(&mut command);
    assert!(stdout.starts_with("ghs_"));
}

/// On a terminal (a pseudo-terminal from util-linux `script`; skipped where it is missing): the
/// Enter prompt, the browser failure said with the URL, the spinner, the login.
#[test]
fn device_flow_on_a_terminal() {
    use std::io::Write;
    use std::process::Stdio;

    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give ghtoken a terminal");
        return;
    }
    let world = world_with(
        Emulator::builder()
            .device_outcome(DeviceOutcome::ApproveAfter(2))
            .device_interval(1),
    );
    let stdout_file = world.dir.join("stdout");
    let typescript = world.dir.join("typescript");
    let inner = format!(
        "'{}' --api-url '{}' device --client-id '{}' > '{}'",
        env!("CARGO_BIN_EXE_ghtoken"),
        world.github.base_url(),
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID,
        stdout_file.display()
    );
    let mut command = Command::new("script");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("GITHUB_") || name.starts_with("GHTOKEN_") {
            command.env_remove(name);
        }
    }
    let mut script = command
        .env("BROWSER", "false")
        .arg("-qec")
        .arg(&inner)
        .arg(&typescript)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script");
    {
        let mut stdin = script.stdin.take().expect("stdin");
        stdin.write_all(b"\n").expect("Enter");
    }
    let status = script.wait().expect("wait");
    let session = std::fs::read_to_string(&typescript).expect("typescript");
    assert!(status.success(), "{session}");
    let base = world.github.base_url();
    assert!(
        session.contains("! First copy your one-time code: "),
        "{session}"
    );
    assert!(
        session.contains(&format!(
            "Press Enter to open {base}/login/device in your browser..."
        )),
        "{session}"
    );
    assert!(
        session.contains(&format!(
            "! Failed opening a web browser at {base}/login/device"
        )),
        "{session}"
    );
    // The spinner, on the terminal only (the device interval is 1 s: it ticks meanwhile).
    assert!(
        session.contains("Waiting for authorization..."),
        "{session}"
    );
    assert!(session.contains("✓ Logged in as octocat"), "{session}");
    let stdout = std::fs::read_to_string(&stdout_file).expect("stdout");
    assert!(json(&stdout)["access_token"].is_string(), "{stdout}");
}
