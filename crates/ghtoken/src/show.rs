//! What ghtoken shows: text from GitHub's answers made inert, and stderr lines that never panic.
//!
//! In GitHub Actions the runner acts on workflow commands in a step's stdout and stderr. It
//! reads lines ending at CR or LF (actions/runner, `src/Runner.Sdk/ProcessInvoker.cs`,
//! `StartReadStream`: .NET `StreamReader.ReadLine`) and takes `::name::` at the start of a line
//! and the older `##[name]` **anywhere** in one (`src/Runner.Worker/ActionCommand.cs`,
//! `TryParseV2` and `TryParse`). A message, login or user code from an answer could thus stop
//! the runner's command processing (`##[stop-commands]`), so that the next `::add-mask::` is
//! printed instead of obeyed, or set an output. So every such text is shown through [`inert`] or
//! [`inert_json`].

use std::io::Write;

/// `text` with its control characters escaped (`\r`, `\n`, `\u{1b}`: it stays on its line and
/// moves no cursor) and `##[` written `##\[`: it can be shown on a line after other text
/// without being a workflow command.
pub(crate) fn inert(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() {
            shown.extend(character.escape_debug());
        } else {
            shown.push(character);
        }
    }
    shown.replace("##[", "##\\[")
}

/// `value` as one line of JSON in which `##[` is written `##\u005b`: the same JSON (`[` only
/// occurs in a string there), never a workflow command. serde_json escapes the control
/// characters.
pub(crate) fn inert_json(value: &serde_json::Value) -> String {
    value.to_string().replace("##[", "##\\u005b")
}

/// Writes `line` and a newline to stderr; a closed or full stderr is ignored (`eprintln!`
/// would panic, after a token was issued or a refresh token spent).
pub(crate) fn say(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}").and_then(|()| stderr.flush());
}

/// Whether `stream` (stdout or stderr) is `/dev/null`, where writing succeeds and loses
/// everything. A closed stream is that too: Rust's runtime opens `/dev/null` on a closed fd 0,
/// 1 or 2 before `main`.
#[cfg(unix)]
pub(crate) fn is_dev_null(stream: &impl std::os::fd::AsFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(null) = std::fs::metadata("/dev/null") else {
        return false;
    };
    let Ok(fd) = stream.as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|stream| stream.dev() == null.dev() && stream.ino() == null.ino())
}

/// Whether `stream` is `/dev/null`: not known here.
#[cfg(not(unix))]
pub(crate) fn is_dev_null<T>(_stream: &T) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::{inert, inert_json};

    #[test]
    fn inert_text_is_one_line_and_no_command() {
        assert_eq!(inert("octocat"), "octocat");
        assert_eq!(
            inert("a\r::stop-commands::x\n##[set-output name=a;]b\u{1b}[2J###["),
            "a\\r::stop-commands::x\\n##\\[set-output name=a;]b\\u{1b}[2J###\\["
        );
    }

    #[test]
    fn inert_json_is_the_same_json() {
        let value = serde_json::json!({"login": "##[stop-commands]x\r\n\\##[", "n": [1]});
        let text = inert_json(&value);
        assert!(!text.contains("##[") && !text.contains('\r') && !text.contains('\n'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON"),
            value
        );
    }
}
