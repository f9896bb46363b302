//! The settings of an `exec` job type, as written in its `[job_types."name"]` table, and the
//! checks that refuse, at start-up, the ones that cannot work.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::handlers::{
    DEFAULT_MAX_RESULT_BYTES, SettingsError, check_result_bound, is_content_type,
};

/// The variables Herald sets itself; the settings may not name them.
const RESERVED_VARIABLES: [&str; 4] = [
    "HERALD_JOB_ID",
    "HERALD_JOB_TYPE",
    "HERALD_ATTEMPT",
    "HERALD_RESULT_PATH",
];

/// The settings of one `exec` job type: the keys of its `[job_types."name"]` table (less the
/// ones every job type shares).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSettings {
    /// The program and its arguments, run as they are, without a shell. A program name without
    /// a `/` is looked up in the command's `PATH`. Required, not empty.
    pub command: Vec<String>,
    /// The names of the variables passed through from Herald's own environment, with their
    /// values as they were when the handler was built; the command gets no others (but
    /// `set_env` and Herald's own). Default `["PATH"]`.
    #[serde(default = "default_env")]
    pub env: Vec<String>,
    /// Variables with fixed values, set after the passed-through ones (so they win). Default
    /// none. Their values are kept out of logs.
    #[serde(default)]
    pub set_env: BTreeMap<String, String>,
    /// Where the command runs; it must be a directory when the handler is built. Default:
    /// Herald's own working directory.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// The content type of a result the command writes to `HERALD_RESULT_PATH`. Default
    /// `application/octet-stream`.
    #[serde(default = "default_result_content_type")]
    pub result_content_type: String,
    /// The largest result file accepted; a larger one fails the job. Default 16 MiB, at most
    /// [`super::MAX_RESULT_BYTES_CEILING`]. (The store's own result limit applies as well.)
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: usize,
}

fn default_env() -> Vec<String> {
    vec!["PATH".to_owned()]
}

fn default_result_content_type() -> String {
    "application/octet-stream".to_owned()
}

fn default_max_result_bytes() -> usize {
    DEFAULT_MAX_RESULT_BYTES
}

impl ExecSettings {
    /// Settings that run `command` with every other setting at its default.
    pub fn new(command: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            env: default_env(),
            set_env: BTreeMap::new(),
            working_dir: None,
            result_content_type: default_result_content_type(),
            max_result_bytes: default_max_result_bytes(),
        }
    }
}

impl fmt::Debug for ExecSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `set_env` often carries tokens: its names are shown, its values never.
        f.debug_struct("ExecSettings")
            .field("command", &self.command)
            .field("env", &self.env)
            .field("set_env", &self.set_env.keys().collect::<Vec<_>>())
            .field("working_dir", &self.working_dir)
            .field("result_content_type", &self.result_content_type)
            .field("max_result_bytes", &self.max_result_bytes)
            .finish()
    }
}

impl ExecSettings {
    /// Refuses the settings that cannot work; [`super::ExecHandler::new`] lists them.
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        match self.command.first() {
            None => {
                return Err(SettingsError::invalid(
                    "command",
                    "must name a program: [\"program\", \"argument\", …]",
                ));
            }
            Some(program) if program.is_empty() => {
                return Err(SettingsError::invalid(
                    "command",
                    "must start with a program name, not an empty string",
                ));
            }
            Some(_) => {}
        }
        if self.command.iter().any(|arg| arg.contains('\0')) {
            return Err(SettingsError::invalid(
                "command",
                "must not contain NUL bytes",
            ));
        }
        for name in &self.env {
            check_variable_name("env", name)?;
        }
        for (name, value) in &self.set_env {
            let key = format!("set_env.{name}");
            check_variable_name(&key, name)?;
            if value.contains('\0') {
                return Err(SettingsError::invalid(key, "must not contain NUL bytes"));
            }
        }
        if let Some(dir) = &self.working_dir
            && !dir.is_dir()
        {
            return Err(SettingsError::invalid(
                "working_dir",
                format!("`{}` is not a directory", dir.display()),
            ));
        }
        if !is_content_type(&self.result_content_type) {
            return Err(SettingsError::invalid(
                "result_content_type",
                format!(
                    "must be a content type like `text/csv`, not `{}`",
                    self.result_content_type
                ),
            ));
        }
        check_result_bound("max_result_bytes", self.max_result_bytes)?;
        Ok(())
    }
}

/// Checks one variable name of `env` or `set_env`.
fn check_variable_name(key: &str, name: &str) -> Result<(), SettingsError> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(SettingsError::invalid(
            key,
            format!("names a variable `{name}`, which cannot be one (empty, or holds `=` or NUL)"),
        ));
    }
    if RESERVED_VARIABLES.contains(&name) {
        return Err(SettingsError::invalid(
            key,
            format!("names `{name}`, which Herald sets itself"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::handlers::ExecHandler;

    fn settings(value: Value) -> ExecSettings {
        ExecSettings::deserialize(value).unwrap()
    }

    fn rejected(value: Value) -> String {
        ExecHandler::new(settings(value)).unwrap_err().to_string()
    }

    #[test]
    fn settings_take_their_defaults() {
        let settings = settings(json!({"command": ["true"]}));
        assert_eq!(settings.env, ["PATH"]);
        assert!(settings.set_env.is_empty());
        assert_eq!(settings.working_dir, None);
        assert_eq!(settings.result_content_type, "application/octet-stream");
        assert_eq!(settings.max_result_bytes, 16 * 1024 * 1024);
        assert!(ExecHandler::new(settings).is_ok());
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let error = ExecSettings::deserialize(json!({"command": ["true"], "comand": []}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("comand"), "{error}");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_key() {
        assert!(rejected(json!({"command": []})).starts_with("`command`"));
        assert!(rejected(json!({"command": [""]})).starts_with("`command`"));
        assert!(rejected(json!({"command": ["a\u{0}b"]})).starts_with("`command`"));
        assert!(rejected(json!({"command": ["true"], "env": ["A=B"]})).starts_with("`env`"));
        assert!(
            rejected(json!({"command": ["true"], "env": ["HERALD_JOB_ID"]}))
                .contains("Herald sets itself")
        );
        assert!(
            rejected(json!({"command": ["true"], "set_env": {"HERALD_RESULT_PATH": "/x"}}))
                .starts_with("`set_env.HERALD_RESULT_PATH`")
        );
        assert!(
            rejected(json!({"command": ["true"], "working_dir": "/nonexistent/herald"}))
                .starts_with("`working_dir`")
        );
        assert!(
            rejected(json!({"command": ["true"], "result_content_type": "csv"}))
                .starts_with("`result_content_type`")
        );
        assert!(
            rejected(json!({"command": ["true"], "max_result_bytes": 0}))
                .starts_with("`max_result_bytes`")
        );
    }

    #[test]
    fn fixed_values_stay_out_of_debug_output() {
        let settings = settings(json!({"command": ["true"], "set_env": {"TOKEN": "s3cret"}}));
        let printed = format!("{settings:?}");
        assert!(printed.contains("TOKEN"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
