//! The offline issuer of `stackctl dev --auth local` and `stackctl token --local`: an ES256 key pair made once
//! per project under `.stackctl/auth/` (never printed, never sent), the tokens it signs, and the two public
//! documents dev serves for it (discovery and JWKS). No AWS, no network.
//!
//! The issuer is a fixed string, not dev's URL: `token --local` does not know which port a dev runs on, and
//! a token must stay valid across dev restarts and ports until it expires. dev gives its workers the JWKS
//! URL explicitly (`STACKCTL_AUTH_JWKS_URL`), so the issuer is never fetched. It is an `http://localhost`
//! URL, which stack.toml's `[auth]` can never name (it takes https issuers only) and the handler accepts only
//! for a loopback host: a deployed function never trusts it. Which project minted a token is in its key:
//! another project's token names a `kid` this project's JWKS does not have.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Tokens;

/// The `iss` of every local token (see the module's comment for why it is fixed).
pub const LOCAL_ISSUER: &str = "http://localhost/stackctl-local-issuer";
/// The `aud` of every local token.
pub const LOCAL_AUDIENCE: &str = "stackctl-local";
/// How long a local token is valid.
pub const LIFETIME_SECS: u64 = 3600;
/// Where dev serves the discovery document and the JWKS.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The key file, relative to the project (the stack file's directory).
pub fn key_path(stack_file: &Path) -> PathBuf {
    let base = stack_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base.join(".stackctl").join("auth").join("local-issuer.pem")
}

/// The project's offline issuer: its key, loaded (or made, the first time).
pub struct LocalIssuer {
    key: SigningKey,
    /// The public key's JWK thumbprint (RFC 7638): the tokens' `kid`.
    kid: String,
    x: String,
    y: String,
}

impl LocalIssuer {
    /// The key at `path`, made first if there is none. Two runs at once make one key: each writes its own to
    /// a temporary file and links it into place only if no key is there; the loser reads the winner's.
    pub fn open_or_create(path: &Path) -> Result<LocalIssuer> {
        let dir = path
            .parent()
            .ok_or_else(|| anyhow!("{} has no directory", path.display()))?;
        private_dir(dir)?;
        match std::fs::symlink_metadata(path) {
            Ok(_) => return LocalIssuer::open(path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        }
        let key = SigningKey::try_generate()
            .map_err(|err| anyhow!("the OS's random source failed: {err}"))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| anyhow!("encoding the key: {err}"))?;
        // tempfile creates the file with mode 0600, in the same directory (so the link is atomic).
        let mut temp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        temp.write_all(pem.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .with_context(|| format!("writing {}", temp.path().display()))?;
        match temp.persist_noclobber(path) {
            Ok(_) => LocalIssuer::from_key(key),
            // Another run made it first: use the winner's key.
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
                LocalIssuer::open(path)
            }
            Err(err) => Err(err.error).with_context(|| format!("creating {}", path.display())),
        }
    }

    /// The existing key at `path`: refused when it is a symlink, not a plain file, someone else's, or
    /// readable by group or others (a private key another account may have read is not the developer's).
    pub fn open(path: &Path) -> Result<LocalIssuer> {
        let shown = path.display();
        let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {shown}"))?;
        if meta.file_type().is_symlink() {
            bail!(
                "the local issuer's key {shown} is a symbolic link: refused (another file could be swapped in)\n  \
                 fix: remove it (`rm {shown}`); the next run makes a new key (tokens minted with the old one stop \
                 being accepted)"
            );
        }
        if !meta.is_file() {
            bail!("the local issuer's key {shown} is not a file\n  fix: remove it; the next run makes a new key");
        }
        check_private(path, &meta)?;
        let mut text = String::new();
        open_no_follow(path)
            .and_then(|mut file| file.read_to_string(&mut text))
            .with_context(|| format!("reading {shown}"))?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|err| {
            anyhow!(
                "the local issuer's key {shown} is not a P-256 private key (PKCS#8 PEM): {err}\n  fix: remove it; \
                 the next run makes a new key"
            )
        })?;
        LocalIssuer::from_key(key)
    }

    fn from_key(key: SigningKey) -> Result<LocalIssuer> {
        let point = key.verifying_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            bail!("the local issuer's public key has no coordinates");
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(LocalIssuer { key, kid, x, y })
    }

    /// The key's id (its JWK thumbprint).
    #[cfg(test)]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS (no private part).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
            "kid": self.kid, "use": "sig", "alg": "ES256",
        }]})
    }

    /// The discovery document dev serves: the issuer and where its JWKS is.
    pub fn discovery(&self, jwks_uri: &str) -> Value {
        json!({
            "issuer": LOCAL_ISSUER,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        })
    }

    /// The `sub` of `user`: the same name gives the same id on every run with this key (so a user's items stay
    /// theirs), and another project's key gives another (a UUID shape, version 8: derived, not random).
    pub fn sub_for(&self, user: &str) -> String {
        let digest =
            Sha256::digest(format!("stackctl-local-user\0{}\0{user}", self.kid).as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// A signed access token for `user`, valid from `now` (seconds since the epoch) for `lifetime` seconds.
    pub fn sign(&self, user: &str, now: u64, lifetime: u64) -> Result<Tokens> {
        let sub = self.sub_for(user);
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let claims = json!({
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": sub,
            "username": user,
            "token_use": "access",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // ES256: ECDSA on P-256 with SHA-256, the signature as the fixed 64 bytes r || s (RFC 7518 §3.4).
        let signature: Signature = self.key.sign(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        let expires_at = crate::dates::rfc3339_seconds(
            UNIX_EPOCH + std::time::Duration::from_secs(now + lifetime),
        );
        Ok(Tokens {
            user: user.to_string(),
            sub,
            issuer: LOCAL_ISSUER.to_string(),
            access_token: token,
            id_token: None,
            expires_in: lifetime,
            expires_at,
        })
    }
}

/// The minter of `token --local`: the project's key, opened (or made) when the first token is minted.
pub struct LocalMinter {
    key_file: PathBuf,
}

impl LocalMinter {
    pub fn new(stack_file: &Path) -> LocalMinter {
        LocalMinter {
            key_file: key_path(stack_file),
        }
    }

    pub fn mint(&self, user: &str) -> Result<Tokens> {
        let issuer = LocalIssuer::open_or_create(&self.key_file)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        issuer.sign(user, now, LIFETIME_SECS)
    }
}

/// `.stackctl/auth/.gitignore` ignoring everything there: the key never goes into the project's repository,
/// whatever the project's own .gitignore says.
fn ignore_in_git(dir: &Path) -> Result<()> {
    let file = dir.join(".gitignore");
    if !file.exists() {
        std::fs::write(&file, "# stackctl: the local issuer's private key\n*\n")
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// Why a directory owned by `owner` may not hold the key of the user `me`: None when it is theirs.
fn foreign_owner(shown: &str, owner: u32, me: u32) -> Option<String> {
    (owner != me).then(|| {
        format!(
            "{shown} belongs to another user (uid {owner}): refused for the local issuer's key\n  \
             fix: remove it; the next run makes it"
        )
    })
}

/// `.stackctl/auth`: made 0700 when missing; refused when it is a symlink or open to group or others.
fn private_dir(dir: &Path) -> Result<()> {
    let shown = dir.display();
    match std::fs::symlink_metadata(dir) {
        Ok(meta) => {
            if meta.file_type().is_symlink() || !meta.is_dir() {
                bail!(
                    "{shown} is not a directory (a symbolic link or a file): refused for the local issuer's key\n  \
                     fix: remove it; the next run makes it"
                );
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                // Someone else's directory could be made to hold, swap or read the key.
                // SAFETY: geteuid has no preconditions and cannot fail.
                let me = unsafe { libc::geteuid() };
                if let Some(why) = foreign_owner(&shown.to_string(), meta.uid(), me) {
                    bail!("{why}");
                }
                if meta.mode() & 0o077 != 0 {
                    bail!(
                        "{shown} is open to group or others (mode {:o}): refused for the local issuer's key\n  \
                         fix: chmod 700 {shown}",
                        meta.mode() & 0o777
                    );
                }
            }
            ignore_in_git(dir)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(dir) {
                Ok(()) => {
                    // The key never goes into the project's repository, whatever its own .gitignore says.
                    ignore_in_git(dir)
                }
                // Another run made it at the same moment: check it as found.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => private_dir(dir),
                Err(err) => Err(err).with_context(|| format!("creating {shown}")),
            }
        }
        Err(err) => Err(err).with_context(|| format!("reading {shown}")),
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    if meta.mode() & 0o077 != 0 {
        bail!(
            "the local issuer's key {shown} is readable or writable by group or others (mode {:o}): refused\n  \
             fix: chmod 600 {shown} if only you could have read it, else remove it (the next run makes a new key)",
            meta.mode() & 0o777
        );
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        bail!(
            "the local issuer's key {shown} belongs to another user (uid {}): refused\n  fix: remove it; the next \
             run makes a new key",
            meta.uid()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Opens without following a symlink swapped in after the check.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token: &str) -> (Value, Value) {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (decode(parts[0]), decode(parts[1]))
    }

    #[test]
    fn a_key_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("stack.toml"));
        let first = LocalIssuer::open_or_create(&path).unwrap();
        let again = LocalIssuer::open_or_create(&path).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.sub_for("alice"), again.sub_for("alice"));
        assert_ne!(first.sub_for("alice"), first.sub_for("bob"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // Another project: another key, other subs.
        let other_dir = tempfile::tempdir().unwrap();
        let other =
            LocalIssuer::open_or_create(&key_path(&other_dir.path().join("stack.toml"))).unwrap();
        assert_ne!(other.kid(), first.kid());
        assert_ne!(other.sub_for("alice"), first.sub_for("alice"));
    }

    #[test]
    fn concurrent_first_runs_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("stack.toml"));
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        LocalIssuer::open_or_create(&path)
                            .unwrap()
                            .kid()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| k == &kids[0]), "{kids:?}");
        let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [".gitignore", "local-issuer.pem"],
            "only the key file and its .gitignore"
        );
        // The key is never committed, whatever the project's own .gitignore says.
        let ignore = std::fs::read_to_string(path.parent().unwrap().join(".gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_or_shared_key_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("stack.toml"));
        LocalIssuer::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = LocalIssuer::open_or_create(&path)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("group or others") && err.contains("fix: chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let real = dir.path().join("elsewhere.pem");
        std::fs::rename(&path, &real).unwrap();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        let err = LocalIssuer::open_or_create(&path)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("symbolic link") && err.contains("fix: remove it"),
            "{err}"
        );
    }

    #[test]
    fn a_key_directory_of_another_user_is_refused() {
        assert!(foreign_owner(".stackctl/auth", 1000, 1000).is_none());
        let why = foreign_owner(".stackctl/auth", 65534, 1000).unwrap();
        assert!(
            why.contains("another user (uid 65534)") && why.contains("fix:"),
            "{why}"
        );
    }

    #[test]
    fn tokens_carry_the_local_claims_and_an_es256_signature_of_the_key() {
        use p256::ecdsa::signature::Verifier;
        let dir = tempfile::tempdir().unwrap();
        let issuer =
            LocalIssuer::open_or_create(&key_path(&dir.path().join("stack.toml"))).unwrap();
        let tokens = issuer.sign("alice", 1_800_000_000, 3600).unwrap();
        let (header, body) = claims(&tokens.access_token);
        assert_eq!(
            header,
            json!({"alg": "ES256", "typ": "JWT", "kid": issuer.kid()})
        );
        assert_eq!(body["iss"], LOCAL_ISSUER);
        assert_eq!(body["aud"], LOCAL_AUDIENCE);
        assert_eq!(body["sub"], issuer.sub_for("alice"));
        assert_eq!(body["token_use"], "access");
        assert_eq!(
            (body["iat"].as_u64(), body["nbf"].as_u64()),
            (Some(1_800_000_000), Some(1_800_000_000))
        );
        assert_eq!(body["exp"], 1_800_003_600);
        assert_eq!(tokens.expires_at, "2027-01-15T09:00:00Z");
        let (input, sig) = tokens.access_token.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        issuer
            .key
            .verifying_key()
            .verify(input.as_bytes(), &sig)
            .unwrap();
        // The JWKS names the key by its thumbprint and holds no private part.
        let jwks = issuer.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], issuer.kid());
        assert!(key.get("d").is_none());
        assert!(!jwks
            .to_string()
            .contains(&URL_SAFE_NO_PAD.encode(issuer.key.to_bytes())));
        let sub = issuer.sub_for("alice");
        assert_eq!(sub.len(), 36);
        assert_eq!(&sub[14..15], "8");
    }
}
