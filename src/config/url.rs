//! `[function.url]` and `[function.url.cors]`, checked with the rules Lambda applies to
//! CreateFunctionUrlConfig (so that nothing is sent that AWS would refuse, and nothing is accepted that a
//! browser would refuse), and `function.reserved_concurrency`.

use toml::Spanned;

use super::raw::{RawCors, RawFunction, RawUrl};
use super::resolve::Checker;
use super::{ConfigError, CorsSpec, UrlAuth, UrlSpec};

/// The methods Lambda takes in `Cors.AllowMethods`.
const METHODS: [&str; 7] = ["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"];
const MAX_METHODS: usize = 6;
const MAX_ORIGINS: usize = 100;
const MAX_ORIGIN_CHARS: usize = 253;
const MAX_HEADERS: usize = 100;
const MAX_HEADER_CHARS: usize = 1024;
const MAX_AGE_SECS: i64 = 86_400;

/// A list of CORS strings as written, with the field's name for messages.
struct List<'a> {
    field: &'a str,
    items: &'a Spanned<Vec<Spanned<String>>>,
}

impl Checker<'_> {
    /// `<section>.reserved_concurrency`: a whole number, 0 or more (0 stops every invocation: 429).
    pub(super) fn reserved_concurrency(
        &self,
        raw: &RawFunction,
        section: &str,
    ) -> Result<Option<i32>, ConfigError> {
        let Some(value) = &raw.reserved_concurrency else {
            return Ok(None);
        };
        match i32::try_from(*value.get_ref()) {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(self.error(
                value.span(),
                &format!("{section}.reserved_concurrency"),
                format!(
                    "{} is not a concurrency Lambda can reserve",
                    value.get_ref()
                ),
                "use a whole number from 0 (the function never runs) up to your account's concurrency \
                 limit (1000 by default), e.g. `reserved_concurrency = 10`",
            )),
        }
    }

    /// `[<section>.url]` (`section`: the function's, `function`); None when the section is absent.
    pub(super) fn url(
        &self,
        raw: &RawFunction,
        section: &str,
    ) -> Result<Option<UrlSpec>, ConfigError> {
        let section = format!("{section}.url");
        let Some(RawUrl { auth, cors, .. }) = &raw.url else {
            return Ok(None);
        };
        let auth = match auth.get_ref().as_str() {
            "none" => UrlAuth::None,
            "aws_iam" => UrlAuth::AwsIam,
            other => {
                let fix = match other.to_ascii_lowercase().replace('-', "_").as_str() {
                    "none" | "aws_iam" => format!(
                        "write it in lower case: `auth = \"{}\"`",
                        other.to_ascii_lowercase().replace('-', "_")
                    ),
                    _ => "write `auth = \"none\"` (public: anyone can call it) or `auth = \"aws_iam\"` \
                          (only callers that sign their requests with SigV4)"
                        .to_string(),
                };
                return Err(self.error(
                    auth.span(),
                    &format!("{section}.auth"),
                    format!(
                        "`{}` is not an auth type of a function URL",
                        other.escape_debug()
                    ),
                    fix,
                ));
            }
        };
        let cors = cors
            .as_ref()
            .map(|c| self.cors(c, &format!("{section}.cors")))
            .transpose()?;
        Ok(Some(UrlSpec { auth, cors }))
    }

    /// `<section>.url.allow_anonymous` against the rest of the file (`url`: the section, checked; `auth`:
    /// whether the file has `[auth]`). A public URL (`auth = "none"`) without `[auth]` lets anyone who finds
    /// it act as any user (the handler takes `userId` from the query string): Ok(Some(refusal)), the error
    /// `up` and `plan` answer before any AWS call, unless the file says `allow_anonymous = true`. The other
    /// commands still run on such a file (a stack deployed before the rule must stay reachable and
    /// removable). The key where it means nothing or contradicts the file is an error at load.
    pub(super) fn anonymous(
        &self,
        raw: &RawFunction,
        section: &str,
        url: Option<&UrlSpec>,
        auth: bool,
    ) -> Result<Option<ConfigError>, ConfigError> {
        let (Some(raw_url), Some(url)) = (&raw.url, url) else {
            return Ok(None);
        };
        let field = format!("{section}.url.allow_anonymous");
        let allowed = raw_url.allow_anonymous.as_ref().filter(|a| *a.get_ref());
        if let Some(allowed) = allowed {
            if auth {
                return Err(self.error(
                    allowed.span(),
                    &field,
                    "`allow_anonymous = true` with [auth]: the URL cannot be both open to anonymous callers \
                     and verified; with [auth] every request needs a token",
                    format!(
                        "remove `allow_anonymous` ([auth] already protects the URL), or remove [auth] to \
                         publish the URL open{}",
                        self.in_stage(" (a stage that adds [auth] writes `allow_anonymous = false`)")
                    ),
                ));
            }
            if url.auth == UrlAuth::AwsIam {
                return Err(self.error(
                    allowed.span(),
                    &field,
                    "`allow_anonymous = true` with `auth = \"aws_iam\"`: only callers that sign their \
                     requests with AWS credentials reach this URL, so there is nothing anonymous to allow",
                    "remove `allow_anonymous`, or write `auth = \"none\"` if the URL is meant to be public",
                ));
            }
            return Ok(None);
        }
        if auth || url.auth != UrlAuth::None {
            return Ok(None);
        }
        let stage = self
            .stage
            .map(|stage| format!(" (or `[stages.{stage}.{section}.url]`)"))
            .unwrap_or_default();
        Ok(Some(self.error(
            raw_url.auth.span(),
            &format!("{section}.url.auth"),
            "a public URL (`auth = \"none\"`) without [auth]: anyone who finds the URL can read, change \
             and delete every user's items by guessing `userId`s (the handler takes the caller's id from \
             the query string, unverified)",
            format!(
                "add [auth] with your sign-in provider's `issuer` and `audience` (the handler then takes the \
                 caller from a verified token), or use `auth = \"aws_iam\"`; to publish it open anyway (a \
                 demo whose data anyone may change), write `allow_anonymous = true` under \
                 `[{section}.url]`{stage}"
            ),
        )))
    }

    /// `text` when a stage is being resolved, else nothing.
    fn in_stage<'t>(&self, text: &'t str) -> &'t str {
        if self.stage.is_some() {
            text
        } else {
            ""
        }
    }

    /// `[auth]` added `authorization` to the CORS config's allowed headers: still within the URL's limit.
    pub(super) fn cors_room(&self, cors: &CorsSpec, section: &str) -> Result<(), ConfigError> {
        if cors.allow_headers.len() <= MAX_HEADERS {
            return Ok(());
        }
        Err(ConfigError {
            file: self.file.to_path_buf(),
            position: None,
            field: Some(format!("{section}.url.cors.allow_headers")),
            message: format!(
                "[auth] needs `authorization` among the allowed headers, but the list already has the \
                 {MAX_HEADERS} a function URL takes"
            ),
            fix: Some("remove a header from `allow_headers` to make room for `authorization`".to_string()),
        })
    }

    /// `[<section>]` (`section`: `function.url.cors`).
    fn cors(&self, raw: &RawCors, section: &str) -> Result<CorsSpec, ConfigError> {
        fn list<'a>(
            field: &'a str,
            items: &'a Option<Spanned<Vec<Spanned<String>>>>,
        ) -> Option<List<'a>> {
            items.as_ref().map(|items| List { field, items })
        }
        let fields = [
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
        ]
        .map(|key| format!("{section}.{key}"));
        let origins = list(&fields[0], &raw.allow_origins);
        let methods = list(&fields[1], &raw.allow_methods);
        let headers = list(&fields[2], &raw.allow_headers);
        let expose = list(&fields[3], &raw.expose_headers);

        let allow_origins = match &origins {
            Some(l) => self.origins(l)?,
            None => Vec::new(),
        };
        let allow_methods = match &methods {
            Some(l) => self.methods(l)?,
            None => Vec::new(),
        };
        let allow_headers = match &headers {
            Some(l) => self.headers(l)?,
            None => Vec::new(),
        };
        let expose_headers = match &expose {
            Some(l) => self.headers(l)?,
            None => Vec::new(),
        };
        let max_age = match &raw.max_age {
            None => None,
            Some(age) if (0..=MAX_AGE_SECS).contains(age.get_ref()) => Some(*age.get_ref() as i32),
            Some(age) => {
                return Err(self.error(
                    age.span(),
                    &format!("{section}.max_age"),
                    format!(
                        "{} seconds is outside the range a function URL allows",
                        age.get_ref()
                    ),
                    format!(
                        "use 0 to {MAX_AGE_SECS} seconds (a day), e.g. `max_age = 300`; browsers \
                         cap it lower anyway (Chromium at 7200)"
                    ),
                ))
            }
        };
        let allow_credentials = raw.allow_credentials.as_ref().is_some_and(|c| *c.get_ref());
        if allow_credentials && allow_origins.iter().any(|o| o == "*") {
            let span = raw
                .allow_credentials
                .as_ref()
                .map(|c| c.span())
                .unwrap_or_default();
            return Err(self.error(
                span,
                &format!("{section}.allow_credentials"),
                "`allow_credentials = true` together with the origin \"*\": browsers refuse credentials \
                 for a wildcard origin, so every credentialed request would fail",
                "list the exact origins in `allow_origins` (e.g. [\"https://app.example.com\"]), or \
                 remove `allow_credentials`",
            ));
        }
        Ok(CorsSpec {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            max_age,
            allow_credentials,
        })
    }

    /// The list's strings after the checks every CORS list shares: at most `max` items, none empty, no
    /// duplicate (compared with `same`).
    fn strings(
        &self,
        list: &List,
        max: usize,
        what: &str,
        same: fn(&str, &str) -> bool,
    ) -> Result<Vec<String>, ConfigError> {
        let items = list.items.get_ref();
        if items.len() > max {
            return Err(self.error(
                list.items.span(),
                list.field,
                format!(
                    "{} {what}s, but a function URL takes at most {max}",
                    items.len()
                ),
                format!("keep at most {max} {what}s"),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            if item.get_ref().trim().is_empty() {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!("an empty {what}"),
                    format!("remove the empty string, or write the {what}"),
                ));
            }
            if let Some(first) = items[..i]
                .iter()
                .find(|earlier| same(earlier.get_ref(), item.get_ref()))
            {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "\"{}\" is listed twice (as \"{}\" before)",
                        item.get_ref().escape_debug(),
                        first.get_ref().escape_debug()
                    ),
                    "list each one once",
                ));
            }
        }
        Ok(items.iter().map(|i| i.get_ref().clone()).collect())
    }

    fn origins(&self, list: &List) -> Result<Vec<String>, ConfigError> {
        let origins = self.strings(list, MAX_ORIGINS, "origin", |a, b| {
            a.eq_ignore_ascii_case(b)
        })?;
        for (item, origin) in list.items.get_ref().iter().zip(&origins) {
            let chars = origin.chars().count();
            if chars > MAX_ORIGIN_CHARS {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "an origin of {chars} characters, but a function URL takes at most \
                         {MAX_ORIGIN_CHARS}"
                    ),
                    "an origin is only scheme, host and port, e.g. \"https://app.example.com\"",
                ));
            }
            if origin != "*" && origin.ends_with('/') {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "\"{}\" ends with `/`, and an origin has no path: browsers send \
                         `Origin: {}`, which would never match",
                        origin.escape_debug(),
                        origin.trim_end_matches('/')
                    ),
                    format!("write \"{}\"", origin.trim_end_matches('/')),
                ));
            }
        }
        Ok(origins)
    }

    fn methods(&self, list: &List) -> Result<Vec<String>, ConfigError> {
        let methods = self.strings(list, MAX_METHODS, "method", |a, b| {
            a.eq_ignore_ascii_case(b)
        })?;
        for (item, method) in list.items.get_ref().iter().zip(&methods) {
            if METHODS.contains(&method.as_str()) {
                continue;
            }
            let upper = method.to_ascii_uppercase();
            let (message, fix) = if upper == "OPTIONS" {
                (
                    "`OPTIONS` is not a method a function URL's CORS takes: with a CORS config the URL \
                     answers preflight OPTIONS requests itself"
                        .to_string(),
                    "remove \"OPTIONS\"; list the methods the frontend sends (GET, PUT, HEAD, POST, PATCH, \
                     DELETE)"
                        .to_string(),
                )
            } else if METHODS.contains(&upper.as_str()) {
                (
                    format!(
                        "\"{}\" is not written as Lambda takes it",
                        method.escape_debug()
                    ),
                    format!("write \"{upper}\" (upper case)"),
                )
            } else {
                (
                    format!(
                        "\"{}\" is not an HTTP method a function URL's CORS takes",
                        method.escape_debug()
                    ),
                    "use GET, PUT, HEAD, POST, PATCH, DELETE or \"*\"".to_string(),
                )
            };
            return Err(self.error(item.span(), list.field, message, fix));
        }
        Ok(methods)
    }

    fn headers(&self, list: &List) -> Result<Vec<String>, ConfigError> {
        let headers = self.strings(list, MAX_HEADERS, "header", |a, b| {
            a.eq_ignore_ascii_case(b)
        })?;
        for (item, header) in list.items.get_ref().iter().zip(&headers) {
            if header.contains(',') {
                let split: Vec<String> = header
                    .split(',')
                    .map(|h| format!("\"{}\"", h.trim()))
                    .filter(|h| h != "\"\"")
                    .collect();
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "\"{}\" is several headers in one item: a function URL takes one header per \
                         item (a comma-joined item matches nothing)",
                        header.escape_debug()
                    ),
                    format!("write [{}]", split.join(", ")),
                ));
            }
            let chars = header.chars().count();
            if chars > MAX_HEADER_CHARS {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "a header of {chars} characters, but a function URL takes at most \
                         {MAX_HEADER_CHARS}"
                    ),
                    "use the header's name, e.g. \"content-type\"",
                ));
            }
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if !header.chars().all(token) {
                return Err(self.error(
                    item.span(),
                    list.field,
                    format!(
                        "\"{}\" is not an HTTP header name",
                        header.escape_debug()
                    ),
                    "write the name only (letters, digits and `-`), e.g. \"content-type\", or \"*\"",
                ));
            }
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{error_of, parse_with, project};
    use crate::config::{CorsSpec, Stack, UrlAuth};

    fn parsed(edit: impl Fn(String) -> String) -> Stack {
        let dir = project();
        parse_with(dir.path(), edit).unwrap()
    }

    fn with_url(section: &str) -> impl Fn(String) -> String {
        let section = section.to_string();
        move |t: String| format!("{t}\n[function.url]\n{section}\n")
    }

    fn cors_error(cors: &str) -> crate::config::ConfigError {
        error_of(with_url(&format!(
            "auth = \"none\"\n[function.url.cors]\n{cors}"
        )))
    }

    #[test]
    fn a_url_section_is_parsed_with_its_cors() {
        let stack = parsed(with_url(
            "auth = \"none\"\n[function.url.cors]\nallow_origins = [\"https://app.example.com\"]\n\
             allow_methods = [\"GET\", \"POST\"]\nallow_headers = [\"content-type\"]\nmax_age = 300",
        ));
        let url = stack.url.unwrap();
        assert_eq!(url.auth, UrlAuth::None);
        assert_eq!(
            url.cors,
            Some(CorsSpec {
                allow_origins: vec!["https://app.example.com".into()],
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["content-type".into()],
                expose_headers: vec![],
                max_age: Some(300),
                allow_credentials: false,
            })
        );
        let stack = parsed(with_url("auth = \"aws_iam\""));
        assert_eq!(
            stack.url.unwrap(),
            crate::config::UrlSpec {
                auth: UrlAuth::AwsIam,
                cors: None
            }
        );
        assert_eq!(parsed(|t| t).url, None);
    }

    #[test]
    fn auth_is_required_and_one_of_two() {
        let err = error_of(with_url(""));
        assert!(err.to_string().contains("auth"), "{err}");
        let err = error_of(with_url("auth = \"public\""));
        assert_eq!(err.field.as_deref(), Some("function.url.auth"));
        assert_eq!(
            err.message,
            "`public` is not an auth type of a function URL"
        );
        let err = error_of(with_url("auth = \"AWS_IAM\""));
        assert_eq!(
            err.fix.as_deref(),
            Some("write it in lower case: `auth = \"aws_iam\"`")
        );
    }

    #[test]
    fn a_public_url_without_auth_is_refused_by_up_unless_allow_anonymous() {
        // Loaded (status, down, ... still run), with the refusal up and plan answer.
        let stack = parsed(with_url("auth = \"none\""));
        let refusal = stack.refuse_anonymous_url().unwrap_err();
        assert_eq!(refusal.field.as_deref(), Some("function.url.auth"));
        assert!(refusal.position.is_some(), "{refusal}");
        assert!(
            refusal.message.contains(
                "anyone who finds the URL can read, change and delete every user's items"
            ),
            "{refusal}"
        );
        assert!(
            refusal
                .fix
                .as_deref()
                .unwrap()
                .contains("`allow_anonymous = true` under `[function.url]`"),
            "{refusal}"
        );
        // Said open on purpose; signed callers only; no URL: nothing to refuse.
        for section in [
            "auth = \"none\"\nallow_anonymous = true",
            "auth = \"aws_iam\"",
            "auth = \"aws_iam\"\nallow_anonymous = false",
        ] {
            assert_eq!(parsed(with_url(section)).anonymous_url, None, "{section}");
        }
        assert_eq!(parsed(|t| t).anonymous_url, None);
        assert!(parsed(with_url("auth = \"none\"\nallow_anonymous = false"))
            .anonymous_url
            .is_some());
        // [auth] verifies the caller: nothing to refuse.
        let with_auth = |t: String| {
            format!(
                "{t}\n[function.url]\nauth = \"none\"\n\n[auth]\nissuer = \"https://issuer.example\"\n\
                 audience = \"api\"\n"
            )
        };
        assert_eq!(parsed(with_auth).anonymous_url, None);
    }

    #[test]
    fn allow_anonymous_with_auth_or_aws_iam_is_an_error() {
        let err = error_of(|t| {
            format!(
                "{t}\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n\n[auth]\n\
                 issuer = \"https://issuer.example\"\naudience = \"api\"\n"
            )
        });
        assert_eq!(err.field.as_deref(), Some("function.url.allow_anonymous"));
        assert!(err.message.contains("with [auth]"), "{err}");
        let err = error_of(with_url("auth = \"aws_iam\"\nallow_anonymous = true"));
        assert_eq!(err.field.as_deref(), Some("function.url.allow_anonymous"));
        assert!(err.message.contains("nothing anonymous to allow"), "{err}");
    }

    #[test]
    fn methods_follow_lambdas_rules() {
        let err = cors_error("allow_methods = [\"GET\", \"OPTIONS\"]");
        assert_eq!(
            err.field.as_deref(),
            Some("function.url.cors.allow_methods")
        );
        assert!(
            err.message.starts_with("`OPTIONS` is not a method"),
            "{err}"
        );
        assert!(err
            .message
            .contains("answers preflight OPTIONS requests itself"));
        let err = cors_error("allow_methods = [\"get\"]");
        assert_eq!(err.fix.as_deref(), Some("write \"GET\" (upper case)"));
        let err = cors_error(
            "allow_methods = [\"GET\", \"PUT\", \"HEAD\", \"POST\", \"PATCH\", \"DELETE\", \"*\"]",
        );
        assert_eq!(err.message, "7 methods, but a function URL takes at most 6");
        let err = cors_error("allow_methods = [\"GET\", \"get\"]");
        assert_eq!(err.message, "\"get\" is listed twice (as \"GET\" before)");
        let err = cors_error("allow_methods = [\"TRACE\"]");
        assert!(err.message.contains("not an HTTP method"), "{err}");
    }

    #[test]
    fn origins_headers_max_age_and_credentials_follow_the_rules() {
        let long = format!("https://{}.example.com", "a".repeat(250));
        let err = cors_error(&format!("allow_origins = [\"{long}\"]"));
        assert!(
            err.message.starts_with("an origin of 270 characters"),
            "{err}"
        );
        let many: Vec<String> = (0..101)
            .map(|i| format!("\"https://{i}.example\""))
            .collect();
        let err = cors_error(&format!("allow_origins = [{}]", many.join(", ")));
        assert_eq!(
            err.message,
            "101 origins, but a function URL takes at most 100"
        );
        let err = cors_error("allow_origins = [\"\"]");
        assert_eq!(err.message, "an empty origin");
        let err = cors_error("allow_origins = [\"https://app.example.com/\"]");
        assert_eq!(
            err.fix.as_deref(),
            Some("write \"https://app.example.com\"")
        );
        let err = cors_error("allow_headers = [\"content-type, x-api-key\"]");
        assert_eq!(
            err.fix.as_deref(),
            Some("write [\"content-type\", \"x-api-key\"]")
        );
        let err = cors_error("expose_headers = [\"x request\"]");
        assert_eq!(
            err.field.as_deref(),
            Some("function.url.cors.expose_headers")
        );
        let err = cors_error("max_age = 86401");
        assert_eq!(
            err.message,
            "86401 seconds is outside the range a function URL allows"
        );
        let err = cors_error("max_age = -1");
        assert_eq!(err.field.as_deref(), Some("function.url.cors.max_age"));
        let err = cors_error("allow_origins = [\"*\"]\nallow_credentials = true");
        assert_eq!(
            err.field.as_deref(),
            Some("function.url.cors.allow_credentials")
        );
        assert!(err.message.contains("browsers refuse credentials"), "{err}");
        // Credentials with exact origins are fine.
        parsed(with_url(
            "auth = \"none\"\n[function.url.cors]\nallow_origins = [\"https://a.example\"]\nallow_credentials = true",
        ));
    }

    #[test]
    fn reserved_concurrency_is_zero_or_more() {
        let set = |n: &str| {
            let n = n.to_string();
            move |t: String| {
                t.replace(
                    "timeout_secs = 10\n",
                    &format!("timeout_secs = 10\nreserved_concurrency = {n}\n"),
                )
            }
        };
        assert_eq!(parsed(set("10")).function.reserved_concurrency, Some(10));
        assert_eq!(parsed(set("0")).function.reserved_concurrency, Some(0));
        let err = error_of(set("-1"));
        assert_eq!(err.field.as_deref(), Some("function.reserved_concurrency"));
        assert_eq!(err.message, "-1 is not a concurrency Lambda can reserve");
    }
}
