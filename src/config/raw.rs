//! The schema of stack.toml: every section declared once (`section!`, config/schema.rs). Each declaration
//! gives the raw struct (the file as written, before any check; `deny_unknown_fields` everywhere: a typo must
//! never be silently ignored), its `[stages.<name>]` overlay and merge, its key list with how each key is
//! written (the fixes of shape errors, config/hints.rs) and its physical names (`stage_budget`). What a
//! value means is checked after, in resolve.rs and beside it.

use std::collections::BTreeMap;

use toml::Spanned;

use super::names::NameRule;
use super::schema::*;

section! {
    /// The whole file. `stages` is the overlays themselves: never in an overlay.
    RawFile /
    /// `[stages.<name>]`: the keys of stack.toml, every one optional, merged into the base file. The stack's
    /// name is not among them: it names the stack in every stage (its tag), the stage tells them apart.
    RawOverlay {
        stack: section RawStack,
        table: section RawTable,
        role: section RawRole,
        policy: section RawPolicy,
        function: section RawFunction,
        auth: table RawAuth => "[auth] with issuer = \"https://...\" and audience = \"...\"",
        #[serde(default)]
        timeouts: section RawTimeouts,
        /// `[stages.<name>] protected = true`: `down --confirm` refuses the stage (config/protection.rs). A
        /// stage's key only: the base file's is refused (`STAGE_ONLY`).
        protected: opt Spanned<bool> => "protected = true",
        /// `[stages.<name>]`: overlays, one per named stage (config/stages.rs).
        #[serde(default)]
        stages: fixed BTreeMap<Spanned<String>, RawOverlay>,
    }
}

/// The keys of the file's top that only a `[stages.<name>]` overlay may write (the base file is refused
/// with where they go: config/protection.rs).
#[cfg(test)]
pub(super) const STAGE_ONLY: &[&str] = &["protected"];

section! {
    RawStack / StackOverlay {
        name: fixed Spanned<String> => r#"name = "my-frontend-app""#,
        region: req Spanned<String> => r#"region = "us-east-1""#,
        #[serde(default)]
        tags: map BTreeMap<Spanned<String>, Spanned<String>> => r#"tags = { team = "web" }"#,
    }
}

section! {
    /// A key attribute (`partition_key`, `sort_key`): always written whole.
    RawKey / KeyOverlay {
        name: req Spanned<String> => r#"name = "userId""#,
        r#type: req Spanned<String> => r#"type = "S""#,
    }
}

section! {
    RawTable / TableOverlay {
        name: req Spanned<String> => r#"name = "my-frontend-app-data""#;
            stage_name = NameRule::TABLE,
        partition_key: record RawKey => r#"partition_key = { name = "userId", type = "S" }"#,
        sort_key: opt_record RawKey => r#"sort_key = { name = "itemId", type = "S" }"#,
        billing_mode: opt Spanned<String> => r#"billing_mode = "PAY_PER_REQUEST""#,
        deletion_protection: opt Spanned<bool> => "deletion_protection = true",
        /// Days 1-35 or `false` (config/protection.rs), taken as any value for stackctl's own message.
        point_in_time_recovery: opt Spanned<toml::Value> => "point_in_time_recovery = 35",
    }
}

section! {
    RawRole / RoleOverlay {
        name: req Spanned<String> => r#"name = "my-frontend-app-lambda-role""#;
            stage_name = NameRule::IAM_ROLE,
        trust_policy: req Spanned<String> => r#"trust_policy = "policies/lambda-trust-policy.json""#,
        #[serde(default)]
        managed_policies: list Vec<Spanned<String>> =>
            r#"managed_policies = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]"#,
    }
}

section! {
    RawPolicy / PolicyOverlay {
        name: req Spanned<String> => r#"name = "MyFrontendAppLambdaDynamoDB""#;
            stage_name = NameRule::IAM_POLICY,
        template: req Spanned<String> => r#"template = "policies/lambda-dynamodb-policy.json""#,
        allow_wildcards: opt Spanned<bool> => "allow_wildcards = false",
    }
}

section! {
    RawFunction / FunctionOverlay {
        name: req Spanned<String> => r#"name = "my-frontend-app-api""#;
            stage_name = NameRule::FUNCTION,
        runtime: req Spanned<String> => r#"runtime = "nodejs24.x""#,
        handler: req Spanned<String> => r#"handler = "handler.handler""#,
        source_dir: req Spanned<String> => r#"source_dir = "lambda""#,
        install: opt Spanned<String> => r#"install = "npm ci""#,
        build: req Spanned<String> => r#"build = "npm run build""#,
        artifact_dir: req Spanned<String> => r#"artifact_dir = "lambda/dist""#,
        memory_mb: opt Spanned<i64> => "memory_mb = 128",
        timeout_secs: opt Spanned<i64> => "timeout_secs = 10",
        architecture: opt Spanned<String>,
        #[serde(default)]
        environment: map BTreeMap<Spanned<String>, Spanned<String>> =>
            "[function.environment] with lines such as TABLE_NAME = \"${table.name}\"",
        logs: table RawLogs => "logs = { retention_days = 30 }",
        reserved_concurrency: opt Spanned<i64> => "reserved_concurrency = 10",
        url: table RawUrl => "[function.url] with auth = \"none\" or auth = \"aws_iam\"",
        deploy: table RawDeploy => "[function.deploy] with alias = \"live\"",
    }
}

section! {
    /// `[function.deploy]`: versioned deploys behind an alias (config/deploy.rs). The values are taken as
    /// any TOML value so that a wrong type gets stackctl's own message and fix.
    RawDeploy / DeployOverlay {
        alias: opt Spanned<toml::Value> => r#"alias = "live""#,
        keep_versions: opt Spanned<toml::Value> => "keep_versions = 5",
        verify: opt Spanned<toml::Value> => r#"verify = "smoke""#,
    }
}

section! {
    /// `[function.url]`. A stage that adds a URL the base file has not writes its `auth`.
    /// `allow_anonymous`: a public URL without `[auth]` is deployed only with it (config/url.rs).
    RawUrl / UrlOverlay {
        auth: req Spanned<String> => r#"auth = "aws_iam""#,
        allow_anonymous: opt Spanned<bool> => "allow_anonymous = true",
        cors: table RawCors => "[function.url.cors] with allow_origins = [\"https://app.example.com\"]",
    }
}

section! {
    /// `[function.url.cors]`.
    RawCors / CorsOverlay {
        allow_origins: opt Spanned<Vec<Spanned<String>>> =>
            r#"allow_origins = ["https://app.example.com"]"#,
        allow_methods: opt Spanned<Vec<Spanned<String>>> =>
            r#"allow_methods = ["GET", "POST", "PATCH", "DELETE"]"#,
        allow_headers: opt Spanned<Vec<Spanned<String>>> => r#"allow_headers = ["content-type"]"#,
        expose_headers: opt Spanned<Vec<Spanned<String>>> => r#"expose_headers = ["x-request-id"]"#,
        max_age: opt Spanned<i64> => "max_age = 300",
        allow_credentials: opt Spanned<bool> => "allow_credentials = false",
    }
}

section! {
    /// `[function.logs]`. The value is taken as any TOML value, so that a string, a float or a date gets
    /// stackctl's own message (with the nearest allowed values) instead of serde's.
    RawLogs / LogsOverlay {
        retention_days: opt Spanned<toml::Value> => "retention_days = 30",
    }
}

section! {
    /// `[auth]`: the callers' verified identity (config/auth.rs). Every key optional to serde: which ones
    /// go together is checked after, with the file's line and the fix.
    RawAuth / AuthOverlay {
        issuer: opt Spanned<String> => r#"issuer = "https://issuer.example.com/""#,
        audience: opt Spanned<String> => r#"audience = "api""#,
        jwks_url: opt Spanned<String> => r#"jwks_url = "https://issuer.example.com/.well-known/jwks.json""#,
        cognito: opt Spanned<bool> => "cognito = true",
    }
}

section! {
    #[derive(Default)]
    RawTimeouts / TimeoutsOverlay {
        table_secs: opt Spanned<i64> => "table_secs = 600",
        function_secs: opt Spanned<i64> => "function_secs = 300",
        role_propagation_secs: opt Spanned<i64> => "role_propagation_secs = 120",
        snapshot_settle_secs: opt Spanned<i64> => "snapshot_settle_secs = 60",
    }
}
