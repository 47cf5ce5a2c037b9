//! Text that came from a handler or a log event, made safe to print on a terminal: a control character in it
//! (ESC starting `ESC[2J` or an OSC 52 clipboard write, a carriage return that overwrites the line) is shown
//! as its escape, `\u{1b}`, instead of being obeyed by the terminal; so is a bidi control (U+202E) that would
//! make the terminal show text in another order than it has.

use std::borrow::Cow;

/// Whether a terminal would act on `c` rather than show it: C0 controls but newline and tab, DEL, and C1; and
/// the bidi controls (ALM, LRM, RLM, the embeddings, overrides and isolates), which reorder the text around
/// them on a terminal that implements bidi (Trojan Source, CVE-2021-42574).
fn is_control(c: char) -> bool {
    // `char::is_control` is Unicode's Cc: C0, DEL and C1.
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character (C0 except `\n` and `\t`, DEL, C1, bidi controls) written as `\u{XX}`, the form Rust
/// and JavaScript source use (ESC is `\u{1b}`). Borrowed when there is nothing to escape.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(terminal("\x1b[2Jcleared"), "\\u{1b}[2Jcleared");
        // OSC 52: set the clipboard, ended by BEL.
        assert_eq!(
            terminal("\x1b]52;c;cHduZWQ=\x07"),
            "\\u{1b}]52;c;cHduZWQ=\\u{7}"
        );
        assert_eq!(terminal("a\rb\0c\x7fd"), "a\\u{d}b\\u{0}c\\u{7f}d");
        // C1: CSI as one character, and NEL.
        assert_eq!(terminal("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
    }

    #[test]
    fn bidi_controls_are_shown_not_obeyed() {
        // Trojan Source (CVE-2021-42574): a right-to-left override makes a terminal that implements bidi show
        // `admin` where the bytes say `nimda`; isolates and marks reorder text the same way.
        assert_eq!(terminal("user \u{202e}nimda"), "user \\u{202e}nimda");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert_eq!(
                terminal(&c.to_string()),
                format!("\\u{{{:x}}}", u32::from(c))
            );
        }
    }

    #[test]
    fn lines_tabs_and_printable_text_pass_unchanged_and_unallocated() {
        for text in [
            "two\nlines\tand a tab",
            "héllo 世界 ✓",
            "",
            "\u{a0}after C1",
        ] {
            assert!(
                matches!(terminal(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn json_output_is_escaped_by_serde_for_c0_and_keeps_del_and_c1_as_is() {
        // What `--output json` prints: serde_json writes every C0 character as \uXXXX (or \n, \t, \r...), so a
        // terminal never sees ESC or BEL from a JSON document. DEL and C1 are valid JSON string content and
        // pass through unchanged: JSON output is for programs, the text output is what is escaped.
        let json = serde_json::json!({"m": "\x1b[2J\x07\r"}).to_string();
        assert_eq!(json, r#"{"m":"\u001b[2J\u0007\r"}"#);
        assert!(!json.chars().any(|c| c.is_ascii_control()));
    }
}
