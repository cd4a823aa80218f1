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
fn installation_with_a_key_in_openssh_format() {
    let world = world();
    let key = world.dir.join("app.openssh");
    std::fs::write(&key, github_auth_emulator::TEST_APP_PRIVATE_KEY_OPENSSH).expect("key");
    let mut command = world.ghtoken(&["installation", "--app-id", "1", "--installation", "1"]);
    command.arg("--private-key").arg(&key);
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
fn actions_mode_masks_on_stderr_and_writes_the_outputs() {
    let world = world();
    let output_file = world.dir.join("github_output");
    std::fs::write(&output_file, "earlier=1\n").expect("output file");
    let mut command = world.installation(&["--owner", "octo"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file);
    let (stdout, stderr) = ok(&mut command);
    // stdout is the token and nothing else, so `TOKEN=$(ghtoken installation ...)` works.
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("ghs_") && !token.contains('\n'),
        "{stdout:?}"
    );
    // The runner reads workflow commands from stderr too: the mask is there.
    assert_eq!(masks(&stderr), [token]);
    let outputs = std::fs::read_to_string(&output_file).expect("outputs");
    assert_eq!(
        runner_outputs(&outputs).expect("the runner can read $GITHUB_OUTPUT"),
        [
            ("earlier".to_owned(), "1".to_owned()),
            ("token".to_owned(), token.to_owned()),
            ("installation-id".to_owned(), "1".to_owned()),
            ("app-slug".to_owned(), "emulator-app".to_owned()),
        ]
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
fn revoke_ends_the_token_piped_or_from_the_environment() {
    let world = world();
    for piped in [false, true] {
        let (stdout, _) = ok(&mut world.installation(&["--installation", "1"]));
        let token = stdout.trim().to_owned();
        let mut command = world.ghtoken(&["revoke"]);
        let output = if piped {
            with_stdin(&mut command, &format!("{token}\n"))
        } else {
            command.env("GHTOKEN_TOKEN", &token);
            with_stdin(&mut command, "")
        };
        assert!(output.status.success(), "{output:?}");
        // The token is refused from then on: a second revoke cannot tell it from a typo.
        let mut again = world.ghtoken(&["revoke"]);
        let output = with_stdin(&mut again, &token);
        assert_eq!(output.status.code(), Some(6), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("already revoked"), "{stderr}");
        assert!(!stderr.contains(&token), "{stderr}");
    }
}

#[test]
fn revoke_of_a_user_token_is_refused() {
    let world = world();
    let output = with_stdin(
        &mut world.ghtoken(&["revoke"]),
        github_auth_emulator::DEFAULT_PAT,
    );
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains(github_auth_emulator::DEFAULT_PAT),
        "{stderr}"
    );
}

impl World {
    /// `ghtoken refresh` of the default GitHub App, its secret in `GHTOKEN_CLIENT_SECRET`.
    fn refresh(&self, args: &[&str]) -> Command {
        let mut command = self.ghtoken(&["refresh", "--client-id", APP_CLIENT_ID]);
        command
            .args(args)
            .env("GHTOKEN_CLIENT_SECRET", APP_CLIENT_SECRET)
            .env("XDG_STATE_HOME", self.dir.join("state"));
        command
    }

    /// `ghtoken check` of the default GitHub App, its secret in `GHTOKEN_CLIENT_SECRET`.
    fn check(&self, args: &[&str]) -> Command {
        let mut command = self.ghtoken(&["check", "--client-id", APP_CLIENT_ID]);
        command
            .args(args)
            .env("GHTOKEN_CLIENT_SECRET", APP_CLIENT_SECRET);
        command
    }
}

#[test]
fn refresh_gives_a_new_pair_and_spends_the_old_one() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let mut command = world.refresh(&[]);
    command.env("GHTOKEN_REFRESH_TOKEN", &refresh);
    let output = with_stdin(&mut command, "");
    assert!(output.status.success(), "{output:?}");
    let answer = json(&String::from_utf8_lossy(&output.stdout));
    let access = answer["access_token"].as_str().expect("access_token");
    let new_refresh = answer["refresh_token"].as_str().expect("refresh_token");
    assert!(access.starts_with("ghu_"), "{answer}");
    assert_ne!(new_refresh, refresh);
    assert!(
        answer["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // The new refresh token from stdin.
    let output = with_stdin(&mut world.refresh(&[]), &format!("{new_refresh}\n"));
    assert!(output.status.success(), "{output:?}");
    assert!(json(&String::from_utf8_lossy(&output.stdout))["access_token"].is_string());

    // The first one is spent.
    let output = with_stdin(&mut world.refresh(&[]), &refresh);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
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
    let output = with_stdin(&mut world.check(&[]), &access);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("valid: token of octocat"), "{output:?}");
    let mut command = world.check(&["--json"]);
    command.env("GHTOKEN_TOKEN", &access);
    let output = with_stdin(&mut command, "");
    let answer = json(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["login"], "octocat");

    let output = with_stdin(&mut world.check(&[]), "ghu_not_a_token");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not valid"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn check_with_a_wrong_secret_is_refused() {
    let world = world();
    let (access, _) = world.user_tokens();
    let mut command = world.check(&[]);
    command.env("GHTOKEN_CLIENT_SECRET", "wrong-secret");
    let output = with_stdin(&mut command, &access);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
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

/// Runs `inner` (a shell command line) on a pseudo-terminal from util-linux `script`, with
/// `BROWSER` set to `browser` and Enter typed: its exit status and the terminal session. `None`
/// where `script` is missing.
fn on_a_terminal(dir: &std::path::Path, inner: &str, browser: &str) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::Stdio;

    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give ghtoken a terminal");
        return None;
    }
    let typescript = dir.join("typescript");
    let mut command = Command::new("script");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("GITHUB_") || name.starts_with("GHTOKEN_") {
            command.env_remove(name);
        }
    }
    let mut script = command
        .env("BROWSER", browser)
        .arg("-qec")
        .arg(inner)
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
    Some((status.success(), session))
}

/// On a terminal: the Enter prompt, the spinner, the login; the emulator's plain-http device
/// page is not opened (only an https page of the web host is), and the page to open is said.
#[test]
fn device_flow_on_a_terminal() {
    let world = world_with(
        Emulator::builder()
            .device_outcome(DeviceOutcome::ApproveAfter(2))
            .device_interval(1),
    );
    let stdout_file = world.dir.join("stdout");
    let inner = format!(
        "'{}' --api-url '{}' device --client-id '{}' > '{}'",
        env!("CARGO_BIN_EXE_ghtoken"),
        world.github.base_url(),
        github_auth_emulator::DEFAULT_OAUTH_CLIENT_ID,
        stdout_file.display()
    );
    let Some((success, session)) = on_a_terminal(&world.dir, &inner, "false") else {
        return;
    };
    assert!(success, "{session}");
    let base = world.github.base_url();
    assert!(
        session.contains("! First copy your one-time code: "),
        "{session}"
    );
    assert!(
        session.contains(&format!("Open {base}/login/device in your browser")),
        "{session}"
    );
    assert!(session.contains("not an https page"), "{session}");
    // The spinner, on the terminal only (the device interval is 1 s: it ticks meanwhile).
    assert!(
        session.contains("Waiting for authorization..."),
        "{session}"
    );
    assert!(session.contains("✓ Logged in as octocat"), "{session}");
    let stdout = std::fs::read_to_string(&stdout_file).expect("stdout");
    assert!(json(&stdout)["access_token"].is_string(), "{stdout}");
}

/// The browser opens only an https `verification_uri` on the configured web host: a hostile
/// answer naming another page launches nothing.
#[test]
fn device_flow_opens_only_an_https_page_of_the_web_host() {
    let dir = std::env::temp_dir().join(format!("ghtoken-cli-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let opened = dir.join("opened");
    let browser = dir.join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n",
            opened.display()
        ),
    )
    .expect("browser script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let port = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    for (page, opens) in [
        ("https://evil.example/login/device", false),
        ("https://HOST.evil.example/login/device", false),
        ("https://x@evil.example/login/device", false),
        ("http://HOST/login/device", false),
        ("javascript:alert(1)", false),
        ("https://HOST/login/device", true),
    ] {
        let base_slot = std::sync::Arc::clone(&port);
        let page_template = page.to_owned();
        let base = fake_github(move |method, path| {
            let host = base_slot.lock().expect("lock").clone();
            match (method, path) {
                ("POST", "/login/device/code") => (
                    200,
                    serde_json::json!({
                        "device_code": "device-code",
                        "user_code": "ABCD-EFGH",
                        "verification_uri": page_template.replace("HOST", &host),
                        "expires_in": 900,
                        "interval": 1,
                    }),
                ),
                ("POST", "/login/oauth/access_token") => (
                    200,
                    serde_json::json!({"error": "access_denied", "error_description": "denied"}),
                ),
                _ => (404, serde_json::json!({"message": "Not Found"})),
            }
        });
        let host = base.trim_start_matches("http://").to_owned();
        *port.lock().expect("lock") = host.clone();
        let _ = std::fs::remove_file(&opened);
        let inner = format!(
            "'{}' --api-url '{base}' device --client-id Iv1.x > /dev/null",
            env!("CARGO_BIN_EXE_ghtoken"),
        );
        let Some((_, session)) = on_a_terminal(&dir, &inner, &browser.display().to_string()) else {
            return;
        };
        let launched = std::fs::read_to_string(&opened).unwrap_or_default();
        let url = page.replace("HOST", &host);
        if opens {
            assert_eq!(launched, format!("{url}\n"), "{page}: {session}");
        } else {
            assert_eq!(launched, "", "{page} was opened: {session}");
            assert!(
                session.contains(&format!("Open {base}/login/device in your browser")),
                "{page}: {session}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Issue 18 §1: no token leaks in GitHub Actions, no rotated pair lost.

/// The values of the `::add-mask::` workflow commands in `text`.
fn masks(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("::add-mask::"))
        .collect()
}

/// The name/value pairs a runner reads from a `$GITHUB_OUTPUT` (or `$GITHUB_ENV`) file, parsed
/// as actions/runner's `EnvFileKeyValuePairs` (src/Runner.Worker/FileCommandManager.cs) parses
/// it on Linux: `NAME=VALUE` lines, and `NAME<<DELIMITER` blocks ended by a line that is exactly
/// the delimiter; lines end at LF.
fn runner_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    let pieces: Vec<&str> = text.split('\n').collect();
    let mut pairs = Vec::new();
    let mut next = 0;
    while next < pieces.len() {
        let line = pieces[next];
        next += 1;
        if line.is_empty() {
            continue;
        }
        match (line.find('='), line.find("<<")) {
            (Some(equals), heredoc) if heredoc.is_none_or(|heredoc| equals < heredoc) => {
                pairs.push((line[..equals].to_owned(), line[equals + 1..].to_owned()));
            }
            (_, Some(heredoc)) => {
                let (name, delimiter) = (&line[..heredoc], &line[heredoc + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("invalid format {line:?}"));
                }
                let mut value = Vec::new();
                loop {
                    let Some(current) = pieces.get(next) else {
                        return Err(format!("matching delimiter not found {delimiter:?}"));
                    };
                    next += 1;
                    if *current == delimiter {
                        break;
                    }
                    if next == pieces.len() {
                        return Err("EOF marker missing new line".to_owned());
                    }
                    value.push(*current);
                }
                pairs.push((name.to_owned(), value.join("\n")));
            }
            _ => return Err(format!("invalid format {line:?}")),
        }
    }
    Ok(pairs)
}

#[test]
fn runner_outputs_parses_as_the_runner() {
    assert_eq!(
        runner_outputs("a=1\nb<<EOF\nx\ny=2\nEOF\nc=3=4\n"),
        Ok(vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "x\ny=2".to_owned()),
            ("c".to_owned(), "3=4".to_owned()),
        ])
    );
    assert!(runner_outputs("b<<EOF\nx\n").is_err());
    assert!(runner_outputs("just text\n").is_err());
}

/// A stand-in for GitHub that answers what `answer(method, path)` says (status, JSON body), one
/// connection at a time, until the test process ends: for answers the emulator never gives.
fn fake_github<F>(answer: F) -> String
where
    F: Fn(&str, &str) -> (u16, serde_json::Value) + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve_one(stream, &answer);
        }
    });
    base
}

fn serve_one(
    mut stream: std::net::TcpStream,
    answer: &dyn Fn(&str, &str) -> (u16, serde_json::Value),
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let (status, json) = answer(method, path);
    let body = json.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// An installation token answer, valid an hour.
fn token_answer(token: &str) -> serde_json::Value {
    let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    serde_json::json!({
        "token": token,
        "expires_at": humantime::format_rfc3339_seconds(expires).to_string(),
        "permissions": {"contents": "read"},
        "repository_selection": "all",
    })
}

#[test]
fn actions_mask_reaches_the_runner_with_stdout_to_dev_null() {
    let world = world();
    let output_file = world.dir.join("github_output");
    let mut command = world.installation(&["--installation", "1"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .stdout(std::process::Stdio::null());
    let output = run(&mut command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let outputs = runner_outputs(&std::fs::read_to_string(&output_file).expect("outputs"))
        .expect("the runner can read $GITHUB_OUTPUT");
    let token = &outputs
        .iter()
        .find(|(name, _)| name == "token")
        .expect("token output")
        .1;
    assert_eq!(masks(&stderr), [token.as_str()]);
}

#[test]
fn actions_stdout_is_the_format_alone_for_every_format() {
    let world = world();
    for format in ["text", "json", "env", "shell"] {
        let mut command = world.installation(&["--installation", "1", "--format", format]);
        command.env("GITHUB_ACTIONS", "true");
        let (stdout, stderr) = ok(&mut command);
        let masked = masks(&stderr);
        assert_eq!(masked.len(), 1, "{format}: {stderr}");
        let token = masked[0];
        let expected = match format {
            "text" => format!("{token}\n"),
            "env" => format!("GH_TOKEN={token}\n"),
            "shell" => format!("export GH_TOKEN={token}\n"),
            _ => {
                assert_eq!(json(&stdout)["token"], token, "{stdout}");
                stdout.clone()
            }
        };
        assert_eq!(stdout, expected, "{format}");
        assert!(!stdout.contains("::"), "{format}: {stdout}");
    }
}

#[test]
fn format_env_is_a_github_env_line_and_format_shell_exports() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1", "--format", "env"]));
    let pairs = runner_outputs(&stdout).expect("a $GITHUB_ENV line");
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].0, "GH_TOKEN");
    let token = pairs[0].1.clone();
    assert!(token.starts_with("ghs_"));

    // `eval "$(ghtoken ... --format shell)"` exports GH_TOKEN to the commands run next.
    let installation = format!(
        "'{}' --api-url '{}' installation --app-id 1 --private-key '{}' --installation 1 \
         --format shell",
        env!("CARGO_BIN_EXE_ghtoken"),
        world.github.base_url(),
        world.key.display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "eval \"$({installation})\" && sh -c 'printf %s \"$GH_TOKEN\"'"
        ))
        .output()
        .expect("sh");
    let exported = String::from_utf8_lossy(&output.stdout);
    assert!(exported.starts_with("ghs_"), "{output:?}");

    // The help says what each format is for.
    let (help, _) = ok(bare().args(["installation", "--help"]));
    assert!(help.contains("$GITHUB_ENV"), "{help}");
    assert!(help.contains("export GH_TOKEN"), "{help}");
}

#[test]
fn github_output_lines_cannot_be_forged_by_a_value() {
    let token = format!("ghs_{}", "a1B2".repeat(9));
    let real = token.clone();
    let base = fake_github(move |method, path| match (method, path) {
        ("POST", "/app/installations/1/access_tokens") => (201, token_answer(&real)),
        ("GET", "/app") => (
            200,
            serde_json::json!({"id": 1, "slug": "evil\ntoken=forged\napp-slug<<EOF\nx\nEOF"}),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    let world = world();
    let output_file = world.dir.join("github_output");
    let mut command = bare();
    command
        .args(["--api-url", &base, "installation", "--app-id", "1"])
        .arg("--private-key")
        .arg(&world.key)
        .args(["--installation", "1"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file);
    let (stdout, _) = ok(&mut command);
    assert_eq!(stdout.trim(), token);
    let outputs = runner_outputs(&std::fs::read_to_string(&output_file).expect("outputs"))
        .expect("the runner can read $GITHUB_OUTPUT");
    let names: Vec<&str> = outputs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["token", "installation-id", "app-slug"],
        "{outputs:?}"
    );
    assert_eq!(outputs[0].1, token);
    assert_eq!(outputs[2].1, "evil\ntoken=forged\napp-slug<<EOF\nx\nEOF");
}

#[test]
fn a_token_with_unexpected_characters_is_never_printed() {
    let base = fake_github(|method, path| match (method, path) {
        ("POST", "/app/installations/1/access_tokens") => (
            201,
            // Valid in a header, but `%0A` would be unescaped by the runner in `::add-mask::`
            // (masking another text than the one printed) and `;` would run a command under
            // `eval "$(ghtoken ... --format shell)"`.
            token_answer("ghs_0123456789abcdefghijklmnopqrstuvwxyz%0A;echo pwned"),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    let world = world();
    let output_file = world.dir.join("github_output");
    let mut command = bare();
    command
        .args(["--api-url", &base, "installation", "--app-id", "1"])
        .arg("--private-key")
        .arg(&world.key)
        .args(["--installation", "1"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file);
    command.args(["--format", "shell"]);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("pwned") && masks(&stderr).is_empty(),
        "{stderr}"
    );
    assert!(!output_file.exists());
}

#[test]
fn no_secret_is_taken_from_the_command_line() {
    let world = world();
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1"]));
    let token = stdout.trim().to_owned();
    let (access, refresh) = world.user_tokens();
    for (args, secret) in [
        (vec!["revoke", token.as_str()], token.as_str()),
        (
            vec!["check", "--client-id", APP_CLIENT_ID, access.as_str()],
            access.as_str(),
        ),
        (
            vec![
                "check",
                "--client-id",
                APP_CLIENT_ID,
                "--client-secret",
                APP_CLIENT_SECRET,
            ],
            APP_CLIENT_SECRET,
        ),
        (
            vec![
                "refresh",
                "--client-id",
                APP_CLIENT_ID,
                "--refresh-token",
                refresh.as_str(),
            ],
            refresh.as_str(),
        ),
        (
            vec![
                "refresh",
                "--client-id",
                APP_CLIENT_ID,
                "--client-secret",
                APP_CLIENT_SECRET,
            ],
            APP_CLIENT_SECRET,
        ),
    ] {
        let mut command = world.ghtoken(&args);
        let output = with_stdin(&mut command, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("stdin"), "{args:?}: {stderr}");
        assert!(!stderr.contains(secret), "{args:?}: {stderr}");
    }
    // Nothing was used: the token still works, and the refresh token is not spent.
    assert!(
        with_stdin(&mut world.ghtoken(&["revoke"]), &token)
            .status
            .success()
    );
    assert!(
        with_stdin(&mut world.refresh(&[]), &refresh)
            .status
            .success()
    );
}

#[test]
fn revoke_tells_a_malformed_token_from_one_github_does_not_accept() {
    let world = world();
    for malformed in [
        "not-a-token",
        "ghs_short",
        "ghs_0123456789abcdefghij klmnopqrstuvwxyz",
        "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    ] {
        let output = with_stdin(&mut world.ghtoken(&["revoke"]), malformed);
        assert_eq!(output.status.code(), Some(5), "{malformed}: {output:?}");
    }
    assert_eq!(world.github.counters().refusals.values().sum::<u64>(), 0);
    // Well formed, never issued (a typo inside): GitHub answers as for a revoked token.
    let typo = format!("ghs_{}", "x".repeat(36));
    let output = with_stdin(&mut world.ghtoken(&["revoke"]), &typo);
    assert_eq!(output.status.code(), Some(6), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("typo"), "{stderr}");
}

/// `ghtoken refresh` with its stdout on `stdout`: the exit code, stderr, and the pair saved in
/// the fallback file that stderr names.
fn refresh_into(world: &World, stdout: std::process::Stdio) -> (Option<i32>, String, PathBuf) {
    let (_, refresh) = world.user_tokens();
    let mut command = world.refresh(&[]);
    command.stdout(stdout);
    let output = with_stdin_keep_stdout(&mut command, &refresh);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let saved = world.dir.join("state").join("ghtoken");
    let file = std::fs::read_dir(&saved)
        .unwrap_or_else(|error| panic!("{}: {error}; stderr: {stderr}", saved.display()))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| stderr.contains(&path.display().to_string()))
        .unwrap_or_else(|| panic!("stderr names no file of {}: {stderr}", saved.display()));
    (output.status.code(), stderr, file)
}

/// Runs `command` (its stdout set by the caller) with `input` on stdin.
fn with_stdin_keep_stdout(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// The saved pair is whole, private, and its refresh token works.
fn saved_pair_works(world: &World, file: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).expect("saved").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let saved = json(&std::fs::read_to_string(file).expect("saved pair"));
    let refresh = saved["refresh_token"].as_str().expect("refresh_token");
    assert!(saved["access_token"].is_string(), "{saved}");
    // The saved refresh token works; `--out` replaces the file whole with the next pair.
    let mut command = world.refresh(&["--out"]);
    command.arg(file);
    let output = with_stdin(&mut command, refresh);
    assert!(
        output.status.success(),
        "the saved refresh token: {output:?}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
    let next = json(&std::fs::read_to_string(file).expect("next pair"));
    assert!(
        next["refresh_token"]
            .as_str()
            .is_some_and(|next| next != refresh)
    );
}

#[test]
fn refresh_with_a_full_stdout_keeps_the_pair() {
    let world = world();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let (code, stderr, file) = refresh_into(&world, full.into());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("saved"), "{stderr}");
    assert!(
        !stderr.contains("ghr_") && !stderr.contains("ghu_"),
        "{stderr}"
    );
    saved_pair_works(&world, &file);
}

#[test]
fn refresh_with_a_closed_stdout_keeps_the_pair() {
    let world = world();
    // A pipe whose reader is gone before ghtoken writes: EPIPE.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let (code, stderr, file) = refresh_into(&world, writer.into());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    saved_pair_works(&world, &file);
}

#[test]
fn refresh_out_writes_the_pair_to_a_private_file() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let out = world.dir.join("tokens.json");
    let mut command = world.refresh(&["--out"]);
    command.arg(&out);
    let output = with_stdin(&mut command, &refresh);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    saved_pair_works(&world, &out);
}

#[test]
fn refresh_out_that_cannot_be_written_fails_before_the_refresh_token_is_spent() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let out = world.dir.join("no-such-directory").join("tokens.json");
    let mut command = world.refresh(&["--out"]);
    command.arg(&out);
    let output = with_stdin(&mut command, &refresh);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    // The refresh token still works.
    let output = with_stdin(&mut world.refresh(&[]), &refresh);
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn actions_mode_masks_what_refresh_and_jwt_print() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let mut command = world.refresh(&[]);
    command.env("GITHUB_ACTIONS", "true");
    let output = with_stdin(&mut command, &refresh);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = json(&stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        masks(&stderr),
        [
            answer["access_token"].as_str().expect("access"),
            answer["refresh_token"].as_str().expect("refresh")
        ]
    );

    let mut command = world.ghtoken(&["jwt", "--app-id", "1", "--private-key"]);
    command.arg(&world.key).env("GITHUB_ACTIONS", "true");
    let (stdout, stderr) = ok(&mut command);
    assert_eq!(masks(&stderr), [stdout.trim_end()]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Review of issue 18 §1.

/// The workflow commands a runner would act on in a step's `text` (its stdout or stderr): the
/// runner reads lines ending at CR or LF (.NET `StreamReader.ReadLine`, actions/runner
/// `src/Runner.Sdk/ProcessInvoker.cs`, `StartReadStream`) and finds `::name::` at the start of a
/// line (after spaces, `ActionCommand.TryParseV2`) or `##[name]` anywhere in it
/// (`ActionCommand.TryParse`).
fn workflow_commands(text: &str) -> Vec<&str> {
    text.split(['\r', '\n'])
        .filter(|line| line.trim_start().starts_with("::") || line.contains("##["))
        .collect()
}

#[test]
fn workflow_commands_are_found_as_the_runner_finds_them() {
    assert_eq!(
        workflow_commands("a\r::add-mask::x\nerror: ##[set-output name=a;]b\n  ::x::y\nno :: here"),
        [
            "::add-mask::x",
            "error: ##[set-output name=a;]b",
            "  ::x::y"
        ]
    );
}

/// A message in GitHub's answer is shown, but cannot be a workflow command: not after a CR,
/// not as `##[...]` within a line (which would stop the runner's command processing, so that the
/// next `::add-mask::` is printed instead of obeyed, or set an output).
#[test]
fn an_answer_cannot_issue_workflow_commands() {
    let base = fake_github(|method, path| match (method, path) {
        ("POST", "/app/installations/1/access_tokens") => (
            422,
            serde_json::json!({
                "message": "Nope\r::set-output name=token::forged ##[stop-commands]pause"
            }),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    let world = world();
    let mut command = bare();
    command
        .args(["--api-url", &base, "installation", "--app-id", "1"])
        .arg("--private-key")
        .arg(&world.key)
        .args(["--installation", "1"])
        .env("GITHUB_ACTIONS", "true");
    let stderr = fails(&mut command, 3);
    assert!(stderr.contains("Nope"), "{stderr}");
    assert_eq!(workflow_commands(&stderr), Vec::<&str>::new(), "{stderr:?}");
}

/// The device flow shows the user code and the login from answers; neither can stop the
/// runner's commands before the tokens are masked, nor set an output.
#[test]
fn device_flow_answers_cannot_issue_workflow_commands() {
    let access = format!("ghu_{}", "A1b2".repeat(9));
    let refresh = format!("ghr_{}", "C3d4".repeat(19));
    let (access_answer, refresh_answer) = (access.clone(), refresh.clone());
    let base = fake_github(move |method, path| match (method, path) {
        ("POST", "/login/device/code") => (
            200,
            serde_json::json!({
                "device_code": "device-code",
                "user_code": "##[stop-commands]pause",
                "verification_uri": "https://evil.example/##[stop-commands]pause",
                "expires_in": 900,
                "interval": 1,
            }),
        ),
        ("POST", "/login/oauth/access_token") => (
            200,
            serde_json::json!({
                "access_token": access_answer,
                "expires_in": 28800,
                "refresh_token": refresh_answer,
                "refresh_token_expires_in": 15_811_200,
                "scope": "",
                "token_type": "bearer",
            }),
        ),
        ("GET", "/user") => (
            200,
            serde_json::json!({"login": "x\r::set-output name=token::forged ##[set-output name=token;]forged"}),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    let mut command = bare();
    command
        .args(["--api-url", &base, "device", "--client-id", "Iv1.x"])
        .env("GITHUB_ACTIONS", "true")
        .stdin(std::process::Stdio::null());
    let (stdout, stderr) = ok(&mut command);
    assert_eq!(
        workflow_commands(&stderr),
        [
            format!("::add-mask::{access}"),
            format!("::add-mask::{refresh}")
        ],
        "{stderr:?}"
    );
    assert_eq!(workflow_commands(&stdout), Vec::<&str>::new(), "{stdout:?}");
}

/// `check` prints the login from GitHub's answer: it cannot issue workflow commands.
#[test]
fn check_output_cannot_issue_workflow_commands() {
    let base = fake_github(|method, path| match (method, path) {
        ("POST", path) if path.starts_with("/applications/") => (
            200,
            serde_json::json!({
                "id": 1,
                "token": "ghu_x",
                "scopes": ["##[stop-commands]pause"],
                "user": {"login": "x\r::set-output name=a::b ##[set-output name=a;]b"},
            }),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    for json_flag in [false, true] {
        let mut command = bare();
        command
            .args(["--api-url", &base, "check", "--client-id", "Iv1.x"])
            .args(json_flag.then_some("--json"))
            .env("GHTOKEN_CLIENT_SECRET", "secret")
            .env("GITHUB_ACTIONS", "true");
        let output = with_stdin(&mut command, "ghu_x");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(workflow_commands(&stdout), Vec::<&str>::new(), "{stdout:?}");
        if json_flag {
            assert_eq!(
                json(&stdout)["login"],
                "x\r::set-output name=a::b ##[set-output name=a;]b"
            );
        }
    }
}

/// In GitHub Actions the pair is masked before it is printed; when the mask cannot be written
/// (stderr full), the pair is neither printed unmasked nor dropped: it is saved aside.
#[test]
fn refresh_whose_mask_cannot_be_written_keeps_the_pair() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut command = world.refresh(&[]);
    command
        .env("GITHUB_ACTIONS", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(full);
    let mut child = command.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(refresh.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "printed unmasked: {output:?}");
    let saved: Vec<PathBuf> = std::fs::read_dir(world.dir.join("state").join("ghtoken"))
        .expect("the pair saved aside")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    saved_pair_works(&world, &saved[0]);
}

/// A new pair with a token that cannot be printed safely is not printed, but not dropped
/// either: the refresh token is spent, so the pair is saved aside.
#[test]
fn refresh_answer_that_cannot_be_printed_is_kept() {
    let base = fake_github(|method, path| match (method, path) {
        ("POST", "/login/oauth/access_token") => (
            200,
            serde_json::json!({
                "access_token": "ghu_odd token",
                "expires_in": 28800,
                "refresh_token": "ghr_the-new-one",
                "refresh_token_expires_in": 15_811_200,
                "token_type": "bearer",
            }),
        ),
        _ => (404, serde_json::json!({"message": "Not Found"})),
    });
    let world = world();
    let mut command = bare();
    command
        .args(["--api-url", &base, "refresh", "--client-id", "Iv1.x"])
        .env("XDG_STATE_HOME", world.dir.join("state"));
    let output = with_stdin(&mut command, "ghr_old");
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = std::fs::read_dir(world.dir.join("state").join("ghtoken"))
        .unwrap_or_else(|error| panic!("nothing saved ({error}): {stderr}"))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| stderr.contains(&path.display().to_string()))
        .unwrap_or_else(|| panic!("stderr names no saved file: {stderr}"));
    let saved = json(&std::fs::read_to_string(&file).expect("saved"));
    assert_eq!(saved["refresh_token"], "ghr_the-new-one");
}

/// `--out` naming a directory cannot take the pair: that is found before the refresh token
/// is spent.
#[test]
fn refresh_out_that_is_a_directory_fails_before_the_refresh_token_is_spent() {
    let world = world();
    let (_, refresh) = world.user_tokens();
    let out = world.dir.join("a-directory");
    std::fs::create_dir_all(&out).expect("dir");
    for given in [out.display().to_string(), format!("{}/", out.display())] {
        let mut command = world.refresh(&["--out", &given]);
        let output = with_stdin(&mut command, &refresh);
        assert!(!output.status.success(), "{given}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("nothing was sent"), "{given}: {stderr}");
    }
    // The refresh token still works.
    let output = with_stdin(&mut world.refresh(&[]), &refresh);
    assert!(output.status.success(), "{output:?}");
}

/// The hints name where the client secret goes now, never the refused `--client-secret`.
#[test]
fn hints_never_name_the_refused_client_secret_flag() {
    let world = world();
    let (access, refresh) = world.user_tokens();
    for (mut command, input) in [(world.check(&[]), access), (world.refresh(&[]), refresh)] {
        command.env("GHTOKEN_CLIENT_SECRET", "wrong-secret");
        let output = with_stdin(&mut command, &input);
        assert_eq!(output.status.code(), Some(3), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("--client-secret") && stderr.contains("GHTOKEN_CLIENT_SECRET"),
            "{stderr}"
        );
    }
}

/// Stdout to `/dev/null` (also what a closed stdout becomes: the Rust runtime reopens a closed
/// fd 1 on `/dev/null` at start) would swallow the spent pair with exit 0: it is saved aside.
#[test]
fn refresh_with_stdout_to_dev_null_keeps_the_pair() {
    let world = world();
    let (code, stderr, file) = refresh_into(&world, std::process::Stdio::null());
    assert_eq!(code, Some(1), "{stderr}");
    saved_pair_works(&world, &file);

    let (_, refresh) = world.user_tokens();
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" --api-url "$1" refresh --client-id "$2" >&-"#)
        .arg(env!("CARGO_BIN_EXE_ghtoken"))
        .arg(world.github.base_url())
        .arg(APP_CLIENT_ID)
        .env("GHTOKEN_CLIENT_SECRET", APP_CLIENT_SECRET)
        .env("GHTOKEN_REFRESH_TOKEN", &refresh)
        .env("XDG_STATE_HOME", world.dir.join("closed"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let saved = std::fs::read_dir(world.dir.join("closed").join("ghtoken"))
        .unwrap_or_else(|error| panic!("nothing saved ({error}): {stderr}"))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| stderr.contains(&path.display().to_string()))
        .unwrap_or_else(|| panic!("stderr names no saved file: {stderr}"));
    saved_pair_works(&world, &saved);
}

/// In GitHub Actions the mask goes to stderr: with stderr to `/dev/null` (or closed) it would
/// never reach the runner, and the token would sit unmasked in `$GITHUB_OUTPUT` (and in the
/// next step's `env:` header). Then nothing is printed or written, and the command fails.
#[test]
fn actions_with_stderr_to_dev_null_prints_no_unmasked_token() {
    let world = world();
    let output_file = world.dir.join("github_output");
    let mut command = world.installation(&["--installation", "1"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .stderr(std::process::Stdio::null());
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(!output_file.exists());
    // Outside Actions nothing needs the runner: stderr to /dev/null is fine.
    let mut command = world.installation(&["--installation", "1"]);
    command.stderr(std::process::Stdio::null());
    let (stdout, _) = ok(&mut command);
    assert!(stdout.starts_with("ghs_"), "{stdout}");
}

#[test]
fn a_secret_typed_in_the_wrong_place_is_never_echoed() {
    // clap's own errors quote what was typed: a token pasted as an extra argument, as a flag's
    // value or as the command would land on stderr, and in a CI log.
    let token = "ghs_SecretSecretSecretSecretSecretSecret42";
    for args in [
        vec!["installation", "--app-id", "1", token],
        vec!["installation", "--app-id", token],
        vec![token],
        vec!["--api-url", "http://127.0.0.1:1", token, "jwt"],
    ] {
        let stderr = fails(bare().args(&args), 2);
        assert!(!stderr.contains("Secret"), "{args:?} echoed: {stderr}");
        assert!(stderr.contains("ghtoken --help"), "{stderr}");
    }
    let stderr = fails(
        bare().args(["refresh", "--client-id", "x", &format!("--token={token}")]),
        2,
    );
    assert!(!stderr.contains("Secret"), "{stderr}");
    assert!(stderr.contains("--token"), "names the flag: {stderr}");
    // Help and missing flags still show clap's own text (nothing typed in it).
    let (help, _) = ok(bare().args(["installation", "--help"]));
    assert!(help.contains("--app-id"), "{help}");
    let missing = fails(bare().arg("installation"), 2);
    assert!(missing.contains("--app-id"), "{missing}");
}

#[test]
fn stdin_larger_than_any_token_is_refused_unread() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = bare()
        .arg("revoke")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // ghtoken stops reading past the limit: the rest of the write may find the pipe closed.
    let _ = stdin.write_all("x".repeat(200 * 1024).as_bytes());
    drop(stdin);
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than 65536 bytes"), "{stderr}");
    assert!(!stderr.contains("xxxx"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Issue 20 §2: stateless installation tokens, `ghs_<APPID>_<JWT>` of about 520 characters.

/// `ghs_1_` and a JWT's three base64url parts, about 520 characters.
fn is_stateless(token: &str) -> bool {
    token.starts_with("ghs_1_")
        && (480..=560).contains(&token.len())
        && token.matches('.').count() == 2
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[test]
fn a_stateless_token_is_printed_masked_and_revoked_whole() {
    let world = world();
    // Printed unchanged, in every format.
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1"]));
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(is_stateless(token), "{stdout:?}");
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1", "--format", "json"]));
    assert!(json(&stdout)["token"].as_str().is_some_and(is_stateless));
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1", "--format", "env"]));
    let exported = stdout.trim().strip_prefix("GH_TOKEN=").expect("GH_TOKEN=");
    assert!(is_stateless(exported), "{stdout:?}");

    // In Actions, the mask carries the whole token, and so does the output.
    let output_file = world.dir.join("github_output_stateless");
    let mut command = world.installation(&["--installation", "1"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file);
    let (stdout, stderr) = ok(&mut command);
    let masked = stdout.strip_suffix('\n').expect("one line").to_owned();
    assert!(is_stateless(&masked), "{stdout:?}");
    assert_eq!(masks(&stderr), [masked.as_str()]);
    let outputs = std::fs::read_to_string(&output_file).expect("outputs");
    let outputs = runner_outputs(&outputs).expect("the runner can read $GITHUB_OUTPUT");
    assert!(
        outputs.contains(&("token".to_owned(), masked.clone())),
        "{outputs:?}"
    );

    // `revoke` takes it and GitHub (which looks tokens up by their text) ends it.
    let output = with_stdin(&mut world.ghtoken(&["revoke"]), &format!("{masked}\n"));
    assert!(output.status.success(), "{output:?}");
    assert_eq!(world.github.counters().installation_tokens_revoked, 1);
    let again = with_stdin(&mut world.ghtoken(&["revoke"]), &masked);
    assert_eq!(again.status.code(), Some(6), "{again:?}");
    assert!(!String::from_utf8_lossy(&again.stderr).contains(&masked[..12]));
}

#[test]
fn a_classic_token_still_works() {
    let world = world_with(
        Emulator::builder().installation_token_format(github_auth_emulator::TokenFormat::Classic),
    );
    let (stdout, _) = ok(&mut world.installation(&["--installation", "1"]));
    let token = stdout.trim();
    assert_eq!(token.len(), 40, "{stdout:?}");
    assert!(token.starts_with("ghs_") && !is_stateless(token));
    let output = with_stdin(&mut world.ghtoken(&["revoke"]), token);
    assert!(output.status.success(), "{output:?}");
}
