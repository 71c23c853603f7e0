//! How a problem in the file is reported: its line and column, a suggestion for a
//! misspelt key, every problem at once.

use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based; 0 when the position is unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration file: pass --config PATH or set KABAR_CONFIG (looked for {})",
        .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { tried: Vec<PathBuf> },
    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}", render_issues(.path, .issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

pub(super) fn render_issues(path: &Path, issues: &[Issue]) -> String {
    let lines: Vec<String> =
        issues.iter().map(|i| format!("{}:{}:{}: {}", path.display(), i.line, i.column, i.message)).collect();
    lines.join("\n")
}

/// Adds "did you mean" to serde's unknown-field message when a known key is close.
pub(super) fn with_suggestion(message: &str) -> String {
    let message = message.trim_end();
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (strsim::jaro_winkler(unknown, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, key)) => format!("{message}; did you mean `{key}`?"),
        None => message.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Byte offset where the content of the TOML string starting at `start` begins:
/// after the quotes, and after the newline that opens a multi-line string.
pub(super) fn string_content_start(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    for delim in ["'''", "\"\"\"", "'", "\""] {
        if let Some(after) = rest.strip_prefix(delim) {
            let mut offset = start + delim.len();
            if delim.len() == 3 {
                if after.starts_with("\r\n") {
                    offset += 2;
                } else if after.starts_with('\n') {
                    offset += 1;
                }
            }
            return offset;
        }
    }
    start
}

/// Byte offset of a 1-based character column within `s`.
pub(super) fn byte_offset_of_column(s: &str, column: usize) -> usize {
    s.char_indices().nth(column.saturating_sub(1)).map(|(i, _)| i).unwrap_or(s.len())
}
