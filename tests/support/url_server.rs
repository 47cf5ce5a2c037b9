//! The stand-in for a function URL (tests/fixtures/url_server.cjs: the project's built handler behind a real
//! HTTP server, with the URL's CORS and SigV4 checks), since moto cannot serve URLs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Project, REPO, ROOT_KEY, TABLE};

/// The stand-in URL server, killed on drop.
pub struct UrlServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Drop for UrlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl UrlServer {
    /// Serves the project's built handler (run `stackctl up` first), with `STACKCTL_CORS = cors_mode` in
    /// its environment and the server's own options (`--cors ORIGIN`, `--sigv4 KEY:SECRET`). The handler's
    /// own DynamoDB calls use the account's root key, as a function's role would be allowed them.
    pub fn start(project: &Project, cors_mode: &str, options: &[&str]) -> UrlServer {
        UrlServer::start_with_env(project, cors_mode, options, &[])
    }

    /// `start`, with more variables in the handler's environment (the function's own, e.g. `[auth]`'s).
    pub fn start_with_env(
        project: &Project,
        cors_mode: &str,
        options: &[&str],
        env: &[(String, String)],
    ) -> UrlServer {
        let port_file = project.path(".url-server-port");
        let _ = std::fs::remove_file(&port_file);
        let script = Path::new(REPO).join("tests/fixtures/url_server.cjs");
        let child = Command::new("node")
            .arg(script)
            .arg(project.path("lambda/dist/handler.js"))
            .arg(&port_file)
            .args(options)
            .env("TABLE_NAME", TABLE)
            .env("STACKCTL_CORS", cors_mode)
            .env("AWS_ENDPOINT_URL", &project.endpoint)
            .env("AWS_ACCESS_KEY_ID", ROOT_KEY)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("NODE_NO_WARNINGS", "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node");
        // Owned at once, so that a panic below still kills it.
        let mut server = UrlServer {
            child,
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                if !port.is_empty() {
                    server.base = format!("http://127.0.0.1:{port}");
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "the URL server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
