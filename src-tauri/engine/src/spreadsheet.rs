//! CSV cells a spreadsheet opens as text, never as a formula: a cell that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run by Excel,
//! LibreOffice and Google Sheets ("CSV injection"), so such text gets a leading
//! apostrophe, which they show as text. Numbers (`-5.00`) are left alone.

use std::borrow::Cow;

/// Whether `text` would be read as a formula and is not a plain number.
fn is_formula(text: &[u8]) -> bool {
    matches!(text.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
        && std::str::from_utf8(text).ok().and_then(|t| t.parse::<rust_decimal::Decimal>().ok()).is_none()
}

/// A text cell as a spreadsheet may open it.
pub fn cell(text: &str) -> Cow<'_, str> {
    if is_formula(text.as_bytes()) { Cow::Owned(format!("'{text}")) } else { Cow::Borrowed(text) }
}

/// [`cell`] for bytes (a rejected row's cells, as the file wrote them).
pub fn cell_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    if is_formula(bytes) {
        let mut out = Vec::with_capacity(bytes.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(bytes);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_numbers_stay() {
        for (input, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("-5.00", "-5.00"),
            ("+5", "+5"),
            ("Globex Corp", "Globex Corp"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(cell(input), expected, "{input:?}");
            assert_eq!(cell_bytes(input.as_bytes()).as_ref(), expected.as_bytes(), "{input:?}");
        }
    }
}
