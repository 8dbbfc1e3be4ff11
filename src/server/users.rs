//! The server's user directory: loaded from a TOML file or generated (`--demo-users N`), with
//! the passwords the HTTP shell checks. Passwords live only here, never in the state machine,
//! logs or results.

use std::path::Path;

use serde::Deserialize;

use super::state::{Directory, DirectoryError, NewUser, UserIdx};

/// A password that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Users with their passwords, index-aligned with the [`Directory`].
#[derive(Debug, Clone)]
pub struct UserTable {
    pub directory: Directory,
    pub passwords: Vec<Password>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: user {user:?}: {message}")]
    Password { path: String, user: String, message: String },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("--demo-users needs a password: set the environment variable {0}")]
    MissingDemoPassword(&'static str),
}

/// The environment variable holding the demo users' password.
pub const DEMO_PASSWORD_ENV: &str = "GWSIM_DEMO_PASSWORD";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default = "default_queues")]
    queues: Vec<String>,
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    username: String,
    /// Literal password (the file is the secret store), or `password_env` to take it from the
    /// environment.
    password: Option<String>,
    password_env: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    queues: Option<Vec<String>>,
}

fn default_queues() -> Vec<String> {
    vec!["default".into()]
}

impl UserTable {
    /// Builds a table from names, passwords and queue memberships.
    pub fn new(
        queues: &[String],
        users: Vec<(NewUser, Password)>,
    ) -> Result<UserTable, DirectoryError> {
        let (new_users, passwords): (Vec<_>, Vec<_>) = users.into_iter().unzip();
        Ok(UserTable { directory: Directory::build(queues, new_users)?, passwords })
    }

    /// `count` users `agent-1` .. `agent-N`, all in the queue `default`, sharing `password`.
    pub fn demo(count: u32, password: Password) -> Result<UserTable, DirectoryError> {
        let users = (1..=count)
            .map(|n| {
                let user = NewUser {
                    username: format!("agent-{n}"),
                    first_name: "Agent".into(),
                    last_name: n.to_string(),
                    queues: vec!["default".into()],
                };
                (user, password.clone())
            })
            .collect();
        Self::new(&default_queues(), users)
    }

    /// Demo users with the password from [`DEMO_PASSWORD_ENV`].
    pub fn demo_from_env(count: u32) -> Result<UserTable, UsersError> {
        let password = std::env::var(DEMO_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .ok_or(UsersError::MissingDemoPassword(DEMO_PASSWORD_ENV))?;
        Ok(Self::demo(count, Password::new(password))?)
    }

    /// Reads a users file (see README, "User directory").
    pub fn load(path: &Path) -> Result<UserTable, UsersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| UsersError::Read { path: shown.clone(), source })?;
        let file: UsersFile = toml::from_str(&text)
            .map_err(|e| UsersError::Parse { path: shown.clone(), message: e.to_string() })?;
        let mut users = Vec::with_capacity(file.users.len());
        for u in file.users {
            let password = match (u.password, u.password_env) {
                (Some(p), None) => p,
                (None, Some(var)) => std::env::var(&var).map_err(|_| UsersError::Password {
                    path: shown.clone(),
                    user: u.username.clone(),
                    message: format!("environment variable {var} is not set"),
                })?,
                _ => {
                    return Err(UsersError::Password {
                        path: shown.clone(),
                        user: u.username.clone(),
                        message: "give exactly one of password or password_env".into(),
                    });
                }
            };
            let queues = u.queues.unwrap_or_else(|| vec![file.queues[0].clone()]);
            users.push((
                NewUser {
                    first_name: u.first_name.unwrap_or_else(|| u.username.clone()),
                    last_name: u.last_name.unwrap_or_default(),
                    username: u.username,
                    queues,
                },
                Password::new(password),
            ));
        }
        Ok(Self::new(&file.queues, users)?)
    }

    /// The user whose name and password these are.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<UserIdx> {
        let idx = self.directory.user_by_name(username)?;
        self.passwords[idx].matches(password).then_some(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_comparison_and_redaction() {
        let p = Password::new("s3cret");
        assert!(p.matches("s3cret"));
        assert!(!p.matches("s3cre"));
        assert!(!p.matches("s3cret!"));
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn demo_users_authenticate() {
        let t = UserTable::demo(3, Password::new("pw")).expect("valid");
        assert_eq!(t.authenticate("agent-2", "pw"), Some(UserIdx::new(1)));
        assert_eq!(t.authenticate("agent-2", "nope"), None);
        assert_eq!(t.authenticate("agent-4", "pw"), None);
    }

    #[test]
    fn users_file_with_queues() {
        let dir = std::env::temp_dir().join(format!("gwsim-users-{}.toml", std::process::id()));
        std::fs::write(
            &dir,
            "queues = [\"front\", \"experts\"]\n[[users]]\nusername = \"ann\"\npassword = \"a\"\n\
             [[users]]\nusername = \"bob\"\npassword = \"b\"\nqueues = [\"experts\"]\n",
        )
        .expect("write temp file");
        let t = UserTable::load(&dir).expect("valid file");
        std::fs::remove_file(&dir).ok();
        let members = |q: &str| {
            let q = t.directory.queue_by_name(q).expect("queue");
            t.directory.queue(q).members.iter().map(|u| u.get()).collect::<Vec<_>>()
        };
        assert_eq!(members("front"), vec![0]);
        assert_eq!(members("experts"), vec![1]);
        assert_eq!(t.authenticate("bob", "b"), Some(UserIdx::new(1)));
    }

    #[test]
    fn users_file_errors_are_clear() {
        let dir = std::env::temp_dir().join(format!("gwsim-users-bad-{}.toml", std::process::id()));
        std::fs::write(&dir, "[[users]]\nusername = \"ann\"\n").expect("write temp file");
        let err = UserTable::load(&dir).expect_err("no password");
        std::fs::remove_file(&dir).ok();
        assert!(err.to_string().contains("give exactly one of password or password_env"), "{err}");
    }
}
