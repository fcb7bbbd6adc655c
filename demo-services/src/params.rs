//! The parameter store (the original's SSM parameters under `/petstore`): a JSON object of
//! name → value in the demo's state dir, read on every lookup so a change (the `errormode1`
//! scenario) takes effect at the next request, as the original's per-request read does.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{DemoError, Result};

pub(crate) const PARAMETERS_FILE: &str = "parameters.json";
pub const ERRORMODE1: &str = "/petstore/errormode1";

/// The value of `name`; a missing file or key, or an unreadable file, is `None` (the original
/// treats any read error as "off").
pub fn get(state_dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join(PARAMETERS_FILE)).ok()?;
    let parameters: BTreeMap<String, String> = serde_json::from_str(&text).ok()?;
    parameters.get(name).cloned()
}

/// Sets `name` to `value`, replacing the file atomically.
pub fn put(state_dir: &Path, name: &str, value: &str) -> Result<()> {
    let path = state_dir.join(PARAMETERS_FILE);
    let mut parameters: BTreeMap<String, String> =
        std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    parameters.insert(name.to_owned(), value.to_owned());
    let text = serde_json::to_string_pretty(&parameters).unwrap_or_default();
    fluoro_proto::replace_durably(&path, text.as_bytes())
        .map_err(DemoError::io(format!("cannot write {}", path.display())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_put_is_read_back_and_a_missing_store_reads_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(super::get(dir.path(), super::ERRORMODE1), None);
        super::put(dir.path(), super::ERRORMODE1, "true").unwrap();
        assert_eq!(super::get(dir.path(), super::ERRORMODE1).as_deref(), Some("true"));
    }
}
