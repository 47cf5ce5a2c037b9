//! What stackctl prints of a function's answer and log on a terminal is the function's text, so control
//! characters in it (a screen clear, an OSC 52 clipboard write) are shown escaped (`\u{1b}`), never obeyed.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn invoke_shows_the_functions_control_characters_escaped() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write(
        "lambda/src/handler.ts",
        "export const handler = async () => {\n  \
           console.log(\"log \\u001b]52;c;cHduZWQ=\\u0007\");\n  \
           return { statusCode: 200, headers: { \"content-type\": \"text/plain\", \"x-note\": \"\\u001b[31mred\" }, \
           body: \"\\u001b[2Jcleared\\r\\n\" };\n};\n",
    );
    project.stackctl(&["up"]).ok();
    project.write(
        "event.json",
        r#"{"requestContext": {"http": {"method": "GET", "path": "/"}}, "rawPath": "/"}"#,
    );
    let run = project.stackctl(&["invoke", "--local", "event.json"]);
    run.ok();
    assert!(
        run.stdout.contains("\\u{1b}[2Jcleared\\u{d}"),
        "{:?}",
        run.stdout
    );
    assert!(run.stdout.contains("\\u{1b}[31mred"), "{:?}", run.stdout);
    assert!(
        run.stderr.contains("log \\u{1b}]52;c;cHduZWQ=\\u{7}"),
        "{:?}",
        run.stderr
    );
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_handler_prints_before_it_fails_to_load_is_shown_escaped_bidi_controls_too() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A right-to-left override (Trojan Source) is escaped like ESC and BEL.
    project.write(
        "lambda/src/handler.ts",
        "console.error(\"loading \\u001b]52;c;cHduZWQ=\\u0007 \\u202enimda\");\nthrow new Error(\"no\");\n\
         export const handler = async () => ({ statusCode: 200 });\n",
    );
    project.stackctl(&["up"]).ok();
    project.write(
        "event.json",
        r#"{"requestContext": {"http": {"method": "GET", "path": "/"}}, "rawPath": "/"}"#,
    );
    let run = project.stackctl(&["invoke", "--local", "event.json"]);
    assert!(
        run.stderr
            .contains("loading \\u{1b}]52;c;cHduZWQ=\\u{7} \\u{202e}nimda"),
        "{:?}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\x1b') && !run.stderr.contains('\u{202e}'),
        "{:?}",
        run.stderr
    );
}
