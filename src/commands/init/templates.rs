//! The files `stackctl init` writes: the repository's own lambda/ and policies/ files and templates/init/,
//! embedded at build time so what init writes cannot drift from what this repository ships and tests.

/// One file of a new project: where it goes (relative, `/`-separated) and its text.
pub struct Template {
    pub path: &'static str,
    text: &'static str,
    /// How the project's name goes in (None: the file is written byte for byte as the repository has it).
    naming: Naming,
}

#[derive(Clone, Copy)]
enum Naming {
    Verbatim,
    /// `{{name}}` is replaced by the project's name (templates/init/ only).
    Placeholder,
    /// The repository's npm package name (`my-frontend-app-api`) becomes `<name>-api`, in package.json and
    /// its lockfile alike, so `npm ci` finds them consistent.
    Package,
}

/// The repository's npm package name in lambda/package.json and lambda/package-lock.json.
pub const REPO_PACKAGE: &str = "\"name\": \"my-frontend-app-api\"";

macro_rules! shipped {
    ($path:literal, $naming:ident) => {
        Template {
            path: $path,
            text: include_str!(concat!("../../../", $path)),
            naming: Naming::$naming,
        }
    };
    ($path:literal from $source:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("../../../templates/init/", $source)),
            naming: Naming::Placeholder,
        }
    };
}

/// Every file, in the order they are written and listed.
pub const FILES: &[Template] = &[
    shipped!("stack.toml" from "stack.toml"),
    shipped!(".gitignore" from "gitignore"),
    shipped!("policies/lambda-trust-policy.json", Verbatim),
    shipped!("policies/lambda-dynamodb-policy.json", Verbatim),
    shipped!("lambda/package.json", Package),
    shipped!("lambda/package-lock.json", Package),
    shipped!("lambda/tsconfig.json", Verbatim),
    shipped!("lambda/src/handler.ts", Verbatim),
    shipped!("lambda/src/auth.ts", Verbatim),
    // The handler's tests that need no emulator (the repository's handler and auth tests start one with
    // its scripts/, which a new project does not have).
    shipped!("lambda/test/preflight.test.mjs", Verbatim),
    shipped!("lambda/events/create-item.json", Verbatim),
    shipped!("lambda/events/list-items.json", Verbatim),
    shipped!("lambda/events/get-item.json", Verbatim),
    shipped!("lambda/events/patch-item.json", Verbatim),
    shipped!("lambda/events/delete-item.json", Verbatim),
    shipped!(".github/workflows/deploy.yml" from ".github/workflows/deploy.yml"),
    shipped!(".github/workflows/preview.yml" from ".github/workflows/preview.yml"),
];

impl Template {
    /// The file's text for a project named `name` (a name `init` has checked).
    pub fn render(&self, name: &str) -> String {
        match self.naming {
            Naming::Verbatim => self.text.to_string(),
            Naming::Placeholder => self.text.replace("{{name}}", name),
            Naming::Package => self
                .text
                .replace(REPO_PACKAGE, &format!("\"name\": \"{name}-api\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const REPO: &str = env!("CARGO_MANIFEST_DIR");

    /// The drift test: each shipped file, rendered with the repository's own names, is the repository's
    /// file byte for byte (the package files with the repository's package name).
    #[test]
    fn the_shipped_files_are_the_repositorys_own() {
        for file in FILES {
            let text = match file.naming {
                Naming::Placeholder => continue,
                Naming::Verbatim => file.render("unused"),
                Naming::Package => file.render("my-frontend-app"),
            };
            let repo = std::fs::read_to_string(Path::new(REPO).join(file.path)).unwrap();
            assert_eq!(text, repo, "{} differs from the repository's", file.path);
        }
    }

    #[test]
    fn the_package_name_is_renamed_in_both_package_files() {
        for path in ["lambda/package.json", "lambda/package-lock.json"] {
            let file = FILES.iter().find(|f| f.path == path).unwrap();
            assert!(file.text.contains(REPO_PACKAGE), "{path}");
            let text = file.render("shop");
            assert!(!text.contains("my-frontend-app"), "{path}");
            assert!(text.contains("\"name\": \"shop-api\""), "{path}");
        }
        let lock = FILES
            .iter()
            .find(|f| f.path == "lambda/package-lock.json")
            .unwrap()
            .render("shop");
        // The lockfile names the package at its top and as its root package: both renamed.
        assert_eq!(lock.matches("\"name\": \"shop-api\"").count(), 2);
    }

    #[test]
    fn the_templates_leave_no_placeholder_behind() {
        for file in FILES {
            assert!(!file.render("shop").contains("{{name}}"), "{}", file.path);
        }
    }
}
