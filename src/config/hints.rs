//! The fix half of a stack.toml shape error: the keys a section needs, how a key is written, and the key a
//! misspelt one most likely meant.

/// The keys a section must have.
pub(super) fn required_keys(section: &str) -> &'static [&'static str] {
    match section {
        "stack" => &["name", "region"],
        "table" => &["name", "partition_key"],
        "role" => &["name", "trust_policy"],
        "policy" => &["name", "template"],
        "function" => &[
            "name",
            "runtime",
            "handler",
            "source_dir",
            "build",
            "artifact_dir",
        ],
        _ => &[],
    }
}

/// How a key is written, for the fix of a missing key or a value of the wrong type.
pub(super) fn example(field: &str) -> Option<&'static str> {
    Some(match field {
        "stack.name" => r#"name = "my-frontend-app""#,
        "stack.region" => r#"region = "us-east-1""#,
        "stack.tags" => r#"tags = { team = "web" }"#,
        "table.name" => r#"name = "my-frontend-app-data""#,
        "table.partition_key" => r#"partition_key = { name = "userId", type = "S" }"#,
        "table.sort_key" => r#"sort_key = { name = "itemId", type = "S" }"#,
        "table.partition_key.name" | "table.sort_key.name" => r#"name = "userId""#,
        "table.partition_key.type" | "table.sort_key.type" => r#"type = "S""#,
        "table.billing_mode" => r#"billing_mode = "PAY_PER_REQUEST""#,
        "table.deletion_protection" => "deletion_protection = true",
        "role.name" => r#"name = "my-frontend-app-lambda-role""#,
        "role.trust_policy" => r#"trust_policy = "policies/lambda-trust-policy.json""#,
        "role.managed_policies" => {
            r#"managed_policies = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]"#
        }
        "policy.name" => r#"name = "MyFrontendAppLambdaDynamoDB""#,
        "policy.template" => r#"template = "policies/lambda-dynamodb-policy.json""#,
        "policy.allow_wildcards" => "allow_wildcards = false",
        "function.name" => r#"name = "my-frontend-app-api""#,
        "function.runtime" => r#"runtime = "nodejs24.x""#,
        "function.handler" => r#"handler = "handler.handler""#,
        "function.source_dir" => r#"source_dir = "lambda""#,
        "function.install" => r#"install = "npm ci""#,
        "function.build" => r#"build = "npm run build""#,
        "function.artifact_dir" => r#"artifact_dir = "lambda/dist""#,
        "function.memory_mb" => "memory_mb = 128",
        "function.timeout_secs" => "timeout_secs = 10",
        "function.environment" => {
            "[function.environment] with lines such as TABLE_NAME = \"${table.name}\""
        }
        "function.logs" => "logs = { retention_days = 30 }",
        "function.logs.retention_days" => "retention_days = 30",
        "function.reserved_concurrency" => "reserved_concurrency = 10",
        "function.url" => "[function.url] with auth = \"none\" or auth = \"aws_iam\"",
        "function.url.auth" => r#"auth = "aws_iam""#,
        "function.url.cors" => {
            "[function.url.cors] with allow_origins = [\"https://app.example.com\"]"
        }
        "function.url.cors.allow_origins" => r#"allow_origins = ["https://app.example.com"]"#,
        "function.url.cors.allow_methods" => {
            r#"allow_methods = ["GET", "POST", "PATCH", "DELETE"]"#
        }
        "function.url.cors.allow_headers" => r#"allow_headers = ["content-type"]"#,
        "function.url.cors.expose_headers" => r#"expose_headers = ["x-request-id"]"#,
        "function.url.cors.max_age" => "max_age = 300",
        "function.url.cors.allow_credentials" => "allow_credentials = false",
        "timeouts.table_secs" => "table_secs = 600",
        "timeouts.function_secs" => "function_secs = 300",
        "timeouts.role_propagation_secs" => "role_propagation_secs = 120",
        _ => return None,
    })
}

/// The candidate closest to a misspelt key, if one is close enough to be what was meant.
pub(super) fn closest(word: &str, candidates: &[String]) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}
