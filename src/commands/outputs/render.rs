//! `outputs` as text (`key: value`) and as env lines (`KEY=value`), and the check that refuses a value
//! either would carry into a reader it could mislead: a line break injects a key into $GITHUB_OUTPUT, and a
//! `$`, quote, `#` or space is read differently by a .env loader than by $GITHUB_OUTPUT.

use anyhow::{bail, Result};

use super::Shape;
use crate::cli::Output as Format;
use crate::report::Output;

/// What an env value may hold: printed unquoted, it means the same to $GITHUB_OUTPUT (the rest of the line,
/// as written) and to a .env loader (dotenv, with dotenv-expand's `$`): no quotes, no `$`, no `#`, no
/// space, no backslash, no line break. URLs, ARNs, ids and version numbers are all made of these.
fn env_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/@%+,=~-?&".contains(c)
}

/// Refuses (exit 1, nothing printed) a value the chosen format cannot carry as it is, naming its key: in
/// env lines any character outside `env_safe`, in text a control character (a line break would make a
/// line of its own). JSON escapes everything: nothing is refused there.
pub fn check(outputs: &[Output], shape: &Shape) -> Result<()> {
    for output in outputs {
        let Some(value) = &output.value else {
            continue;
        };
        let key = &output.key;
        match shape.output {
            Format::Env => {
                if let Some(bad) = value.chars().find(|c| !env_safe(*c)) {
                    bail!(
                        "output `{key}` holds {} ({value:?}), which an env line cannot carry as it is \
                         (a line break would add a key to $GITHUB_OUTPUT; `$`, quotes, `#` and spaces are \
                         read differently by .env loaders): nothing was printed; read it with \
                         `--output json`",
                        describe(bad)
                    );
                }
            }
            Format::Text => {
                if let Some(bad) = value.chars().find(|c| c.is_control()) {
                    bail!(
                        "output `{key}` holds {} ({value:?}): a text line cannot carry it; nothing was \
                         printed; read it with `--output json`",
                        describe(bad)
                    );
                }
            }
            Format::Json => {}
        }
    }
    Ok(())
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a line feed".to_string(),
        '\r' => "a carriage return".to_string(),
        '\0' => "a NUL".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// `key: value`, one line per value that is there.
pub fn text(outputs: &[Output]) -> String {
    lines(outputs, |key, value| format!("{key}: {value}"))
}

/// `PREFIXKEY=value`, the key upper-cased, one line per value that is there.
pub fn env(outputs: &[Output], prefix: &str) -> String {
    lines(outputs, |key, value| {
        format!("{prefix}{}={value}", key.to_ascii_uppercase())
    })
}

fn lines(outputs: &[Output], line: impl Fn(&str, &str) -> String) -> String {
    outputs
        .iter()
        .filter_map(|o| Some(line(&o.key, o.value.as_deref()?)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(output: Format) -> Shape {
        Shape {
            output,
            prefix: String::new(),
        }
    }

    fn outputs(value: &str) -> Vec<Output> {
        vec![
            Output::new(
                "table_arn",
                1,
                Some("arn:aws:dynamodb:us-east-1:1:table/t".into()),
            ),
            Output::new("url", 0, Some(value.into())),
            Output::new("stage", 0, None),
        ]
    }

    /// Absent values make no line; keys are upper-cased and prefixed; URLs and ARNs pass as they are.
    #[test]
    fn env_lines_name_upper_cased_keys_and_skip_absent_values() {
        let all = outputs("https://abc.lambda-url.us-east-1.on.aws/");
        check(&all, &shape(Format::Env)).unwrap();
        assert_eq!(
            env(&all, "VITE_"),
            "VITE_TABLE_ARN=arn:aws:dynamodb:us-east-1:1:table/t\n\
             VITE_URL=https://abc.lambda-url.us-east-1.on.aws/"
        );
        assert_eq!(
            text(&all),
            "table_arn: arn:aws:dynamodb:us-east-1:1:table/t\nurl: https://abc.lambda-url.us-east-1.on.aws/"
        );
        assert_eq!(env(&[Output::new("url", 0, None)], ""), "");
    }

    /// A line break (or NUL) would add a key to $GITHUB_OUTPUT: refused in env and text, naming the key;
    /// `$`, quotes, `#`, spaces and backslashes are refused in env (a .env loader reads them otherwise).
    #[test]
    fn a_value_that_could_inject_or_expand_is_refused() {
        for bad in ["x\nADMIN=1", "x\r", "x\0", "\u{1b}[2J"] {
            for format in [Format::Env, Format::Text] {
                let err = check(&outputs(bad), &shape(format))
                    .unwrap_err()
                    .to_string();
                assert!(err.contains("output `url`"), "{err}");
                assert!(err.contains("nothing was printed"), "{err}");
            }
            check(&outputs(bad), &shape(Format::Json)).unwrap();
        }
        for bad in ["a$HOME", "a\"b", "a'b", "a#b", "a b", "a\\b", "a`b"] {
            let err = check(&outputs(bad), &shape(Format::Env)).unwrap_err();
            assert!(err.to_string().contains("output `url`"), "{err}");
            check(&outputs(bad), &shape(Format::Text)).unwrap();
        }
        check(&outputs("https://h/p?a=b&c=d"), &shape(Format::Env)).unwrap();
    }
}
