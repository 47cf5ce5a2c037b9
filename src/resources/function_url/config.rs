//! The URL config: read (GetFunctionUrlConfig), CORS in a canonical shape, create, update and delete, and
//! the function's `stackctl:url` marker set beside a create or a delete.

use super::*;

/// The URL config as Lambda answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUrlConfig {
    pub url: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    pub cors: Option<CorsSpec>,
}

/// GetFunctionUrlConfig of the URL on `qualifier` (None: the function's own, `$LATEST`; Some: an alias);
/// None when the function, the alias or its URL does not exist.
pub async fn read_config(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
) -> Result<Option<LiveUrlConfig>> {
    read_config_as(client, function, qualifier, "the URL config").await
}

/// `read_config`, its error saying it was reading `what` of the function.
pub(super) async fn read_config_as(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    what: &str,
) -> Result<Option<LiveUrlConfig>> {
    match client
        .get_function_url_config()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => Ok(Some(LiveUrlConfig {
            url: out.function_url().to_string(),
            auth_type: out.auth_type().as_str().to_string(),
            cors: out.cors().map(cors_spec),
        })),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(None),
        Err(err) => Err(err).with_context(|| {
            format!(
                "reading {what} of Lambda function `{function}`{}",
                on(qualifier)
            )
        }),
    }
}

/// The SDK's CORS config as stack.toml's shape.
fn cors_spec(cors: &Cors) -> CorsSpec {
    CorsSpec {
        allow_origins: cors.allow_origins().to_vec(),
        allow_methods: cors.allow_methods().to_vec(),
        allow_headers: cors.allow_headers().to_vec(),
        expose_headers: cors.expose_headers().to_vec(),
        max_age: cors.max_age(),
        allow_credentials: cors.allow_credentials().unwrap_or(false),
    }
}

fn sdk_cors(spec: &CorsSpec) -> Cors {
    Cors::builder()
        .set_allow_origins(Some(spec.allow_origins.clone()))
        .set_allow_methods(Some(spec.allow_methods.clone()))
        .set_allow_headers(Some(spec.allow_headers.clone()))
        .set_expose_headers(Some(spec.expose_headers.clone()))
        .set_max_age(spec.max_age)
        .allow_credentials(spec.allow_credentials)
        .build()
}

/// A CORS config with its lists in a canonical order and case (methods upper-case, headers lower-case:
/// HTTP compares them so), so that an answer in another order is not drift. An empty config (no list, no
/// max age, no credentials) is the same as none: the URL then sends no CORS headers either.
pub(super) fn canonical(cors: Option<&CorsSpec>) -> Option<CorsSpec> {
    let sorted = |list: &[String], f: fn(&str) -> String| {
        let mut list: Vec<String> = list.iter().map(|s| f(s)).collect();
        list.sort();
        list.dedup();
        list
    };
    let cors = cors?;
    let canonical = CorsSpec {
        allow_origins: sorted(&cors.allow_origins, str::to_string),
        allow_methods: sorted(&cors.allow_methods, str::to_ascii_uppercase),
        allow_headers: sorted(&cors.allow_headers, str::to_ascii_lowercase),
        expose_headers: sorted(&cors.expose_headers, str::to_ascii_lowercase),
        max_age: cors.max_age.filter(|age| *age != 0),
        allow_credentials: cors.allow_credentials,
    };
    (canonical != CorsSpec::default()).then_some(canonical)
}

/// One CORS config as plan shows it: `origins [..] methods [..] ...`, or "none".
pub fn describe_cors(cors: Option<&CorsSpec>) -> String {
    let Some(c) = canonical(cors) else {
        return "none".to_string();
    };
    let mut parts = vec![format!("allow_origins {:?}", c.allow_origins)];
    let mut list = |name: &str, items: &[String]| {
        if !items.is_empty() {
            parts.push(format!("{name} {items:?}"));
        }
    };
    list("allow_methods", &c.allow_methods);
    list("allow_headers", &c.allow_headers);
    list("expose_headers", &c.expose_headers);
    if let Some(age) = c.max_age {
        parts.push(format!("max_age {age}"));
    }
    if c.allow_credentials {
        parts.push("allow_credentials true".into());
    }
    parts.join(", ")
}

/// CreateFunctionUrlConfig (BUFFERED, as the handler answers); returns the URL. A URL created meanwhile
/// (ResourceConflictException) is brought to the wanted config instead.
pub async fn create(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    spec: &UrlSpec,
) -> Result<String> {
    let created = client
        .create_function_url_config()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .auth_type(FunctionUrlAuthType::from(spec.auth.as_aws()))
        .set_cors(spec.cors.as_ref().map(sdk_cors))
        .invoke_mode(aws_sdk_lambda::types::InvokeMode::Buffered)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.function_url().to_string()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            update(client, function, qualifier, spec).await
        }
        Err(err) => Err(err).with_context(|| {
            format!(
                "creating the URL of Lambda function `{function}`{}",
                on(qualifier)
            )
        }),
    }
}

/// UpdateFunctionUrlConfig with the whole wanted config (no CORS: an empty one, which removes it).
pub async fn update(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    spec: &UrlSpec,
) -> Result<String> {
    let cors = spec.cors.clone().unwrap_or_default();
    let out = client
        .update_function_url_config()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .auth_type(FunctionUrlAuthType::from(spec.auth.as_aws()))
        .cors(sdk_cors(&cors))
        .send()
        .await
        .with_context(|| {
            format!(
                "updating the URL of Lambda function `{function}`{}",
                on(qualifier)
            )
        })?;
    Ok(out.function_url().to_string())
}

/// DeleteFunctionUrlConfig; already gone is success.
pub async fn delete(client: &Client, function: &str, qualifier: Option<&str>) -> Result<()> {
    match client
        .delete_function_url_config()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => Err(err).with_context(|| {
            format!(
                "deleting the URL of Lambda function `{function}`{}",
                on(qualifier)
            )
        }),
    }
}

/// ` (alias `NAME`)` for a qualified call's error context; nothing for the function's own URL (the error
/// texts without `[function.deploy]` are today's).
pub(super) fn on(qualifier: Option<&str>) -> String {
    qualifier.map_or(String::new(), |q| format!(" (alias `{q}`)"))
}

/// Puts the `stackctl:url` marker on the function, or takes it off.
pub async fn set_marker(client: &Client, function_arn: &str, stack: &str, on: bool) -> Result<()> {
    let context = || format!("updating the `{URL_TAG}` tag of `{function_arn}`");
    if on {
        client
            .tag_resource()
            .resource(function_arn)
            .tags(URL_TAG, stack)
            .send()
            .await
            .with_context(context)?;
    } else {
        client
            .untag_resource()
            .resource(function_arn)
            .tag_keys(URL_TAG)
            .send()
            .await
            .with_context(context)?;
    }
    Ok(())
}
