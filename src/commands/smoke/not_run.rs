//! smoke with `[auth]` naming an issuer stackctl cannot mint tokens for (an external one): the scenario
//! acts as two users, which needs their tokens. Rather than a PASS that checked nothing of what the deployed
//! API now does, smoke refuses before any request to the function, with exit 2, and says why.

use serde::Serialize;

use crate::config::Stack;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};

/// Why smoke did not run.
pub const NOT_RUN_WITH_AUTH: &str = "smoke did not run: with [auth] the handler answers 401 to requests \
    without a token, and stackctl cannot mint tokens for this stack's issuer; none of the scenario's checks \
    was run. To check the API, call it with a token from your issuer (`stackctl invoke` with an \
    `Authorization: Bearer <token>` header in the event), or use `[auth] cognito = true` (a pool stackctl \
    manages: smoke then signs in two test users itself)";

#[derive(Serialize)]
pub struct NotRun {
    #[serde(skip)]
    envelope: Envelope,
    function: String,
    passed: bool,
    not_run: &'static str,
}

impl Body for NotRun {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        format!("{}: {}", self.function, self.not_run)
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// smoke's answer for a stack with `[auth]`: exit 2, nothing sent.
pub fn refuse(stack: &Stack) -> Outcome {
    let envelope = Envelope::new("smoke", stack, Default::default(), Default::default());
    Outcome::result(
        NotRun {
            envelope,
            function: stack.chosen_function().spec.name,
            passed: false,
            not_run: NOT_RUN_WITH_AUTH,
        },
        ExitStatus::Pending,
    )
}
