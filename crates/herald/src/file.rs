//! The configuration file (`--config herald.toml` / `HERALD_CONFIG`): server settings under
//! `[server]` and the job types under `[job_types."name"]`, with `HERALD_JOB_TYPES__…`
//! environment overrides. This module only reads and checks the file's shape; the server
//! settings become a layer of the settings, under the environment and the flags
//! ([`crate::settings`]), and the job types become handlers and policies
//! ([`crate::job_types`]).
//!
//! ```toml
//! [server]
//! bind = "0.0.0.0:8080"
//! concurrency = 32
//!
//! [job_types."report.build"]
//! handler = "exec"
//! command = ["python3", "/srv/reports/build.py"]
//! timeout = "10m"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The prefix of the environment variables that override one setting of one job type:
/// `HERALD_JOB_TYPES__<TYPE>__<KEY>`, where `<TYPE>` is the type's name in capitals with
/// `.`, `-` and `:` written as `_` (`report.build` → `REPORT_BUILD`), and `<KEY>` the setting.
pub const TYPE_OVERRIDE_PREFIX: &str = "HERALD_JOB_TYPES__";

/// Why the configuration file cannot be used. Every message names the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{variable}: {message}")]
    Override { variable: String, message: String },
}

/// The configuration file, read and overridden by the environment, its shape checked.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    /// `[server]`: command-line settings by their long name (`bind`, `redis_url`, ...).
    pub server: Table,
    /// `[job_types."name"]`: each job type's table, by name.
    pub job_types: BTreeMap<String, Table>,
}

impl ConfigFile {
    /// Reads `path` and applies the `HERALD_JOB_TYPES__…` overrides of the process
    /// environment.
    ///
    /// # Errors
    /// A [`FileError`] naming the file, the table or key, or the variable that is wrong.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut file = Self::parse(path, &text)?;
        file.apply_overrides(std::env::vars())?;
        Ok(file)
    }

    /// Checks the shape of a configuration file's text: only `[server]` and `[job_types]`
    /// tables, each job type a table.
    ///
    /// # Errors
    /// [`FileError::Syntax`] or [`FileError::Invalid`].
    pub fn parse(path: &Path, text: &str) -> Result<Self, FileError> {
        let invalid = |message: String| FileError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| FileError::Syntax {
                path: path.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        let server = match root.remove("server") {
            None => Table::new(),
            Some(Value::Table(table)) => table,
            Some(_) => return Err(invalid("`server` must be a table: [server]".to_owned())),
        };
        let job_types = match root.remove("job_types") {
            None => BTreeMap::new(),
            Some(Value::Table(types)) => types
                .into_iter()
                .map(|(name, value)| match value {
                    Value::Table(table) => Ok((name, table)),
                    _ => Err(invalid(format!(
                        "job type `{name}` must be a table: [job_types.\"{name}\"]"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "`job_types` must hold one table per job type: [job_types.\"name\"]".to_owned(),
                ));
            }
        };
        if let Some(unknown) = root.keys().next() {
            return Err(invalid(format!(
                "unknown top-level setting `{unknown}`: the file holds [server] and [job_types.\"name\"] tables"
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            server,
            job_types,
        })
    }

    /// Applies `HERALD_JOB_TYPES__<TYPE>__<KEY>=<value>` overrides from `vars` to the job types
    /// of the file. A value is read as a TOML value (`8`, `"10m"`, `["a", "b"]`,
    /// `{ Authorization = "Bearer x" }`) and, failing that, taken as a string, so
    /// `HERALD_JOB_TYPES__REPORT_BUILD__TIMEOUT=10m` works without quotes.
    ///
    /// # Errors
    /// [`FileError::Override`] for a variable that names no job type of the file or no key.
    pub fn apply_overrides(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), FileError> {
        for (variable, raw) in vars {
            let Some(rest) = variable.strip_prefix(TYPE_OVERRIDE_PREFIX) else {
                continue;
            };
            let refuse = |message: String| FileError::Override {
                variable: variable.clone(),
                message,
            };
            let Some((type_part, key)) = rest.split_once("__") else {
                return Err(refuse(format!(
                    "expected {TYPE_OVERRIDE_PREFIX}<TYPE>__<KEY>, like {TYPE_OVERRIDE_PREFIX}REPORT_BUILD__TIMEOUT"
                )));
            };
            if key.is_empty() {
                return Err(refuse("names no setting after the job type".to_owned()));
            }
            let Some(table) = self
                .job_types
                .iter_mut()
                .find(|(name, _)| env_name(name) == type_part)
                .map(|(_, table)| table)
            else {
                return Err(refuse(format!(
                    "names no job type of {}: known are {}",
                    self.path.display(),
                    self.job_types
                        .keys()
                        .map(|name| format!("{} ({name})", env_name(name)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            table.insert(key.to_ascii_lowercase(), override_value(&raw));
        }
        Ok(())
    }
}

/// A job type's name as it appears in an override variable: capitals, with `.`, `-` and `:`
/// as `_`.
pub fn env_name(job_type: &str) -> String {
    job_type
        .chars()
        .map(|c| match c {
            '.' | '-' | ':' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// An override's value: TOML if it reads as a TOML value, else the raw string.
fn override_value(raw: &str) -> Value {
    format!("value = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// A setting of the file as a command-line value: strings as written, lists joined by commas,
/// numbers and booleans as TOML writes them.
///
/// # Errors
/// A message for a table or a datetime, which no flag takes.
pub fn flag_value(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(flag_value)
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        Value::Table(_) | Value::Datetime(_) => {
            Err("takes a string, a number, a boolean or a list".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, FileError> {
        ConfigFile::parse(Path::new("herald.toml"), text)
    }

    #[test]
    fn a_file_holds_server_settings_and_job_types() {
        let file = parse(
            r#"
            [server]
            bind = "0.0.0.0:8080"
            roles = ["api", "worker"]

            [job_types."report.build"]
            handler = "exec"
            command = ["python3", "build.py"]
            "#,
        )
        .unwrap();
        assert_eq!(file.server["bind"].as_str(), Some("0.0.0.0:8080"));
        assert_eq!(flag_value(&file.server["roles"]).unwrap(), "api,worker");
        assert_eq!(
            file.job_types["report.build"]["handler"].as_str(),
            Some("exec")
        );
    }

    #[test]
    fn a_broken_file_says_where() {
        let err = parse("[server]\nbind = \n").unwrap_err().to_string();
        assert!(
            err.contains("herald.toml") && err.contains("line 2"),
            "{err}"
        );
        let err = parse("[jobtypes.x]\n").unwrap_err().to_string();
        assert!(err.contains("`jobtypes`"), "{err}");
        let err = parse("[job_types]\nx = 3\n").unwrap_err().to_string();
        assert!(err.contains("job type `x`"), "{err}");
        let err = parse("server = 3\n").unwrap_err().to_string();
        assert!(err.contains("`server` must be a table"), "{err}");
    }

    #[test]
    fn environment_overrides_replace_one_setting_of_one_type() {
        let mut file = parse(
            r#"
            [job_types."report.build"]
            handler = "exec"
            timeout = "1m"
            "#,
        )
        .unwrap();
        let vars = [
            ("HERALD_JOB_TYPES__REPORT_BUILD__TIMEOUT", "10m"),
            ("HERALD_JOB_TYPES__REPORT_BUILD__CONCURRENCY", "4"),
            (
                "HERALD_JOB_TYPES__REPORT_BUILD__COMMAND",
                r#"["sh", "-c", "true"]"#,
            ),
            ("HERALD_BIND", "ignored here"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        file.apply_overrides(vars).unwrap();
        let table = &file.job_types["report.build"];
        assert_eq!(table["timeout"].as_str(), Some("10m"));
        assert_eq!(table["concurrency"].as_integer(), Some(4));
        assert_eq!(table["command"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn an_override_of_an_unknown_type_is_refused_with_the_known_ones_named() {
        let mut file = parse("[job_types.\"report.build\"]\nhandler = \"external\"\n").unwrap();
        let vars = [(
            "HERALD_JOB_TYPES__REPORT__TIMEOUT".to_owned(),
            "1m".to_owned(),
        )];
        let err = file.apply_overrides(vars).unwrap_err().to_string();
        assert!(
            err.contains("HERALD_JOB_TYPES__REPORT__TIMEOUT") && err.contains("REPORT_BUILD"),
            "{err}"
        );
        let vars = [("HERALD_JOB_TYPES__REPORT_BUILD".to_owned(), "1m".to_owned())];
        assert!(file.apply_overrides(vars).is_err());
    }

    #[test]
    fn tables_are_not_flag_values() {
        let file = parse("[server]\nbind = { host = \"x\" }\n").unwrap();
        assert!(flag_value(&file.server["bind"]).is_err());
        assert_eq!(env_name("video-transcode:v2"), "VIDEO_TRANSCODE_V2");
    }
}
