//! Field validation: every string that enters the registry is bounded.
//!
//! Strings are stored verbatim (quotes, SQL- or HTML-shaped text included:
//! the store binds parameters, it never splices), so the only things refused
//! are what no identifier or name should hold: emptiness where a value is
//! required, control characters, and excess length.

use crate::DeviceError;

/// Longest identifier (org, user, device, session, enrollment, actor), in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest free-text profile field (display name, manufacturer, model, ...), in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// Longest hardware identifier (serial number, IMEI, MEID, UDID, SID, TPM key hash), in characters.
pub const MAX_HARDWARE_ID_CHARS: usize = 128;

/// Checks a required identifier: 1 to [`MAX_ID_BYTES`] bytes, no control characters.
pub fn check_id(field: &'static str, value: &str) -> Result<(), DeviceError> {
    if value.is_empty() {
        return Err(DeviceError::EmptyField { field });
    }
    if value.len() > MAX_ID_BYTES {
        return Err(DeviceError::FieldTooLong {
            field,
            max: MAX_ID_BYTES,
            len: value.len(),
        });
    }
    check_no_control(field, value)
}

/// Checks a text field of at most `max` characters (may be empty unless `required`).
pub fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), DeviceError> {
    if required && value.trim().is_empty() {
        return Err(DeviceError::EmptyField { field });
    }
    // Count lazily: stop once past the limit, so a huge input costs at most `max` steps.
    let len = value.chars().take(max.saturating_add(1)).count();
    if len > max {
        return Err(DeviceError::FieldTooLong {
            field,
            max,
            len: value.chars().count(),
        });
    }
    check_no_control(field, value)
}

fn check_no_control(field: &'static str, value: &str) -> Result<(), DeviceError> {
    match value.chars().position(char::is_control) {
        Some(position) => Err(DeviceError::ControlCharacter { field, position }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_count_characters_not_bytes() {
        let at_limit = "ü".repeat(MAX_TEXT_CHARS);
        assert!(check_text("displayName", &at_limit, MAX_TEXT_CHARS, true).is_ok());
        let over = format!("{at_limit}ü");
        assert_eq!(
            check_text("displayName", &over, MAX_TEXT_CHARS, true),
            Err(DeviceError::FieldTooLong {
                field: "displayName",
                max: MAX_TEXT_CHARS,
                len: MAX_TEXT_CHARS + 1
            })
        );
        assert_eq!(
            check_text("model", "  ", MAX_TEXT_CHARS, true),
            Err(DeviceError::EmptyField { field: "model" })
        );
        assert!(check_text("model", "", MAX_TEXT_CHARS, false).is_ok());
        assert_eq!(
            check_text("model", "a\tb", MAX_TEXT_CHARS, false),
            Err(DeviceError::ControlCharacter {
                field: "model",
                position: 1
            })
        );
    }
}
