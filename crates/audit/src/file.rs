//! The `file` audit device: one JSON line per entry, appended to a file (or stdout, or
//! nowhere), written and synced to disk before `log` returns.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use coffer_types::{Map, coerce_bool, coerce_string};
use serde_json::Value;

use crate::AuditError;
use crate::device::{AuditDevice, DeviceInfo, normalize_path};
use crate::entry::AuditEntry;
use crate::hash::{HashOptions, Salt, elide_list_response};

/// The mode of a created log file when the `mode` option is absent.
const DEFAULT_MODE: u32 = 0o600;

/// Vault's `file` audit device.
///
/// Options (all strings or JSON scalars, as the CLI and API send them):
/// `file_path` (required; a path, `stdout` or `discard`; legacy alias `path`), `mode` (octal,
/// default `"0600"`; `"0000"` leaves the mode of the file alone; executable bits are refused),
/// `format` (`json`; `jsonx` is not supported), `prefix` (written before every line),
/// `log_raw` (no hashing), `hmac_accessor` (default true) and `elide_list_responses`.
#[derive(Debug)]
pub struct FileDevice {
    info: DeviceInfo,
    salt: Salt,
    prefix: String,
    log_raw: bool,
    hash_options: HashOptions,
    elide_list_responses: bool,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Discard,
    Stdout,
    File(FileSink),
}

#[derive(Debug)]
struct FileSink {
    path: PathBuf,
    /// 0 means "leave the mode alone" (Vault's `"0000"`).
    mode: u32,
    /// The open file. The lock is held only for the `write` call, so lines never interleave;
    /// the sync happens outside it, on a clone of the handle.
    current: Mutex<Option<Arc<OpenedFile>>>,
}

#[derive(Debug)]
struct OpenedFile {
    file: File,
    /// Only regular files are synced: character devices and pipes refuse `fdatasync`.
    sync: bool,
}

/// A write that failed after `written` bytes of the line reached the file.
struct WriteFailure {
    written: usize,
    error: io::Error,
}

impl FileDevice {
    /// Validates the options and opens the log file (so enabling fails when it cannot be
    /// written). `path_name` is where the device is enabled (`file` or `file/`); `salt` keys
    /// the HMACs and must be persisted by the caller to keep hashes comparable across restarts.
    pub fn new(path_name: &str, options: &Map, salt: Vec<u8>) -> Result<FileDevice, AuditError> {
        let text = |key: &str| -> Result<String, AuditError> {
            options.get(key).map_or(Ok(String::new()), |v| {
                coerce_string(key, v).map_err(|e| AuditError::InvalidConfig(e.to_string()))
            })
        };
        let flag = |key: &str, default: bool| -> Result<bool, AuditError> {
            match options.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => {
                    coerce_bool(key, v).map_err(|e| AuditError::InvalidConfig(e.to_string()))
                }
            }
        };

        let mut file_path = text("file_path")?;
        if file_path.is_empty() {
            file_path = text("path")?;
        }
        if file_path.is_empty() {
            return Err(AuditError::InvalidConfig("file_path is required".into()));
        }
        match text("format")?.as_str() {
            "" | "json" => {}
            "jsonx" => return Err(AuditError::InvalidConfig("jsonx is not supported".into())),
            other => {
                return Err(AuditError::InvalidConfig(format!("unknown format type \"{other}\"")));
            }
        }
        let mode = parse_mode(&text("mode")?)?;

        let sink = match file_path.as_str() {
            "discard" => Sink::Discard,
            "stdout" => Sink::Stdout,
            path => {
                let sink = FileSink { path: PathBuf::from(path), mode, current: Mutex::new(None) };
                sink.reopen()?;
                Sink::File(sink)
            }
        };

        Ok(FileDevice {
            info: DeviceInfo {
                device_type: "file".into(),
                description: String::new(),
                options: stringify_options(options),
                path: normalize_path(path_name),
                local: false,
            },
            salt: Salt::new(&salt),
            prefix: text("prefix")?,
            log_raw: flag("log_raw", false)?,
            hash_options: HashOptions { hmac_accessor: flag("hmac_accessor", true)? },
            elide_list_responses: flag("elide_list_responses", false)?,
            sink,
        })
    }

    /// Sets the description `sys/audit` shows (builder style).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.info.description = description.into();
        self
    }

    /// Marks the device local to this node (builder style).
    pub fn with_local(mut self, local: bool) -> Self {
        self.info.local = local;
        self
    }

    /// The line written for `entry`: prefix, the (hashed) entry as JSON, and a newline.
    fn format(&self, entry: &AuditEntry) -> Result<Vec<u8>, AuditError> {
        let mut value = if self.log_raw {
            entry.unhashed_value().clone()
        } else {
            entry.hashed(&self.salt, self.hash_options)
        };
        if self.elide_list_responses {
            elide_list_response(&mut value);
        }
        let mut line = self.prefix.as_bytes().to_vec();
        serde_json::to_writer(&mut line, &value).map_err(|e| AuditError::Encode(e.to_string()))?;
        line.push(b'\n');
        Ok(line)
    }
}

impl AuditDevice for FileDevice {
    fn log(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        match &self.sink {
            Sink::Discard => Ok(()),
            Sink::Stdout => {
                let line = self.format(entry)?;
                let mut out = io::stdout().lock();
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|source| AuditError::Io { target: "stdout".into(), source })
            }
            Sink::File(sink) => sink.write_line(&self.format(entry)?),
        }
    }

    fn hash(&self, value: &str) -> String {
        self.salt.hash(value)
    }

    fn reopen(&self) -> Result<(), AuditError> {
        match &self.sink {
            Sink::File(sink) => sink.reopen(),
            Sink::Discard | Sink::Stdout => Ok(()),
        }
    }

    fn describe(&self) -> DeviceInfo {
        self.info.clone()
    }
}

impl FileSink {
    fn io_error(&self, source: io::Error) -> AuditError {
        AuditError::Io { target: self.path.display().to_string(), source }
    }

    fn open(&self) -> io::Result<OpenedFile> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if self.mode == 0 { DEFAULT_MODE } else { self.mode });
        }
        let file = options.open(&self.path)?;
        let regular = file.metadata()?.is_file();
        // The umask may have narrowed the creation mode, and an existing file keeps its own:
        // set the configured mode on regular files (never on devices such as /dev/null).
        #[cfg(unix)]
        if regular && self.mode != 0 {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        }
        Ok(OpenedFile { file, sync: regular })
    }

    /// Closes the current file and opens the path again. On failure no file is held, so later
    /// writes try to open it again and fail until they can (fail closed).
    fn reopen(&self) -> Result<(), AuditError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = None;
        *current = Some(Arc::new(self.open().map_err(|e| self.io_error(e))?));
        Ok(())
    }

    /// Writes and syncs one line. On failure the file is reopened and the line written once
    /// more (a rotated, removed or broken file gets a fresh handle); when the first attempt
    /// left part of the line behind, a newline ends that fragment first.
    fn write_line(&self, line: &[u8]) -> Result<(), AuditError> {
        let first = match self.try_write(line, false) {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        tracing::warn!(
            audit_file = %self.path.display(),
            error = %first.error,
            "audit file write failed; reopening and retrying once"
        );
        if let Err(reopen) = self.reopen() {
            tracing::warn!(error = %reopen, "audit file reopen failed");
            return Err(self.io_error(first.error));
        }
        let fragment = first.written > 0 && first.written < line.len();
        self.try_write(line, fragment).map_err(|f| self.io_error(f.error))
    }

    fn try_write(&self, line: &[u8], end_fragment: bool) -> Result<(), WriteFailure> {
        let failed = |written, error| WriteFailure { written, error };
        let opened = {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            let opened = match current.as_ref() {
                Some(opened) => Arc::clone(opened),
                None => {
                    let opened = Arc::new(self.open().map_err(|e| failed(0, e))?);
                    *current = Some(Arc::clone(&opened));
                    opened
                }
            };
            if end_fragment {
                write_counted(&opened.file, b"\n").map_err(|(_, e)| failed(0, e))?;
            }
            write_counted(&opened.file, line).map_err(|(n, e)| failed(n, e))?;
            opened
        };
        // Outside the lock: concurrent writers share one journal commit, and a sync after our
        // write covers our line whichever thread issues it.
        if opened.sync {
            opened.file.sync_data().map_err(|e| failed(line.len(), e))?;
        }
        Ok(())
    }
}

/// `write_all` that reports how many bytes were written before an error.
fn write_counted(mut file: &File, buf: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while written < buf.len() {
        match file.write(&buf[written..]) {
            Ok(0) => return Err((written, io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

/// Parses `mode` as octal (`"0600"`, `"600"`), refusing bits beyond `0777` and executable bits.
fn parse_mode(raw: &str) -> Result<u32, AuditError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(DEFAULT_MODE);
    }
    let digits = raw.strip_prefix("0o").unwrap_or(raw);
    let mode = u32::from_str_radix(digits, 8).map_err(|_| {
        AuditError::InvalidConfig(format!(
            "unable to parse 'mode': \"{raw}\" is not an octal number"
        ))
    })?;
    if mode > 0o777 {
        return Err(AuditError::InvalidConfig(format!("invalid file mode \"{raw}\"")));
    }
    if mode & 0o111 != 0 {
        return Err(AuditError::InvalidConfig(format!(
            "file mode \"{raw}\" must not include executable permissions"
        )));
    }
    Ok(mode)
}

/// The options as `sys/audit` shows them: every value a string, as Vault stores them.
fn stringify_options(options: &Map) -> Map {
    options
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => coerce_string(k, other).unwrap_or_else(|_| other.to_string()),
            };
            (k.clone(), Value::String(text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    fn err(options: Value) -> String {
        FileDevice::new("file", &opts(options), vec![1; 32])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("").ok(), Some(0o600));
        assert_eq!(parse_mode("0600").ok(), Some(0o600));
        assert_eq!(parse_mode("640").ok(), Some(0o640));
        assert_eq!(parse_mode("0000").ok(), Some(0));
        assert!(parse_mode("0755").is_err());
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("07777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn option_errors() {
        assert_eq!(err(json!({})), "file_path is required");
        assert_eq!(
            err(json!({"file_path": "discard", "format": "jsonx"})),
            "jsonx is not supported"
        );
        assert!(err(json!({"file_path": "discard", "format": "xml"})).contains("unknown format"));
        assert!(err(json!({"file_path": "discard", "mode": "abc"})).contains("mode"));
        assert!(err(json!({"file_path": "discard", "log_raw": "maybe"})).contains("log_raw"));
        assert!(
            err(json!({"file_path": "/nonexistent-dir/x/audit.log"})).contains("/nonexistent-dir")
        );
    }

    #[test]
    fn describe_echoes_options_as_strings() {
        let options = opts(json!({"file_path": "discard", "log_raw": true, "path": "x"}));
        let device =
            FileDevice::new("file", &options, vec![1; 32]).map(|d| d.with_description("d"));
        let info = device.map(|d| d.describe()).unwrap_or_default();
        assert_eq!(info.path, "file/");
        assert_eq!(info.description, "d");
        assert_eq!(info.options["log_raw"], "true");
        assert_eq!(info.options["file_path"], "discard");
    }
}
