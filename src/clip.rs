//! User text quoted in a message — a link's key or value, a tensor's name from a file, a token —
//! cut to a length and made safe to show.
//!
//! Each control or bidirectional-formatting character (NUL, U+202E "right-to-left override",
//! the isolates U+2066–U+2069, …) is shown as U+FFFD: a name from a file or a link must not turn
//! the message it stands in around. Cutting reads at most `max` + 1 characters, so a text of any
//! length costs O(max).

/// A control character or a bidirectional mark, embedding, override or isolate: shown as U+FFFD.
fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text`'s first `max` characters, each hidden one replaced by U+FFFD, with "…" when it had more.
pub fn clip(text: &str, max: usize) -> String {
    let mut s: String = text.chars().take(max).map(|c| if is_hidden(c) { '\u{FFFD}' } else { c }).collect();
    // nth, not count: O(max) on a text of any length.
    if text.chars().nth(max).is_some() {
        s.push('…');
    }
    s
}

/// A parser's message about user text (TOML's quotes the line and marks the column): each line
/// clipped to `max` characters and at most 12 lines, so a line of 100,000 characters in a settings
/// file makes a message of a few hundred, not 300,000.
pub fn clip_lines(message: &str, max: usize) -> String {
    const LINES: usize = 12;
    let mut out: Vec<String> = message.lines().take(LINES).map(|l| clip(l, max)).collect();
    if message.lines().nth(LINES).is_some() {
        out.push("…".into());
    }
    out.join("\n")
}

/// A message that quotes user text somewhere inside it (a JSON parser's "invalid type: string
/// "qqqq…", expected struct … at line 1 column 200002"): at most `keep` characters from each end
/// with " … " between, so that what was expected and where stay readable; hidden characters as
/// in [`clip`]. A message of at most 2·`keep` + 3 characters is kept whole.
pub fn clip_middle(message: &str, keep: usize) -> String {
    // Line breaks stay: a parser's message may span lines.
    let hidden = |c: char| if c != '\n' && is_hidden(c) { '\u{FFFD}' } else { c };
    let n = message.chars().count();
    if n <= 2 * keep + 3 {
        return message.chars().map(hidden).collect();
    }
    let head: String = message.chars().take(keep).map(hidden).collect();
    let tail: String = message.chars().skip(n - keep).map(hidden).collect();
    format!("{head} … {tail}")
}
