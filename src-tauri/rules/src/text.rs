//! Checks of free text shared by every definition: required text, codes,
//! postal addresses. Problems are keyed by field.

use crate::Problem;

/// The longest name or description.
pub const MAX_TEXT_CHARS: usize = 200;
/// The most lines of a postal address.
pub const MAX_ADDRESS_LINES: usize = 6;
/// The longest code (of a meter, a plan).
pub const MAX_CODE_CHARS: usize = 64;

/// The problem with a required free-text field, if any: empty (after trimming) or too long.
pub fn required_text_problem(field: &str, what: &str, value: &str, max_chars: usize) -> Option<Problem> {
    let value = value.trim();
    if value.is_empty() {
        Some(Problem::new(field, format!("{what} is required")))
    } else if value.chars().count() > max_chars {
        Some(Problem::new(field, format!("at most {max_chars} characters")))
    } else {
        None
    }
}

fn is_code(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// A code (of a meter, a plan): present, short, and a–z, 0–9, _ . - only.
pub fn code_problem(what: &str, code: &str, example: &str) -> Option<Problem> {
    required_text_problem("code", what, code, MAX_CODE_CHARS).or_else(|| {
        (!is_code(code))
            .then(|| Problem::new("code", format!("\"{code}\" must use a–z, 0–9, _ . or - (e.g. {example})")))
    })
}

/// A count of things in words: "1 event", "2 events".
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// "1234567.5" → "1,234,567.5": thousands grouped as text, the digits untouched.
pub fn group_digits(value: &str) -> String {
    let (sign, rest) = value.strip_prefix('-').map_or(("", value), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Problems with a postal address given as lines.
pub fn address_problems(lines: &[String], field: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if lines.len() > MAX_ADDRESS_LINES {
        problems.push(Problem::new(field, format!("at most {MAX_ADDRESS_LINES} address lines")));
    }
    for (i, line) in lines.iter().enumerate() {
        if line.chars().count() > MAX_TEXT_CHARS {
            problems.push(Problem::new(format!("{field}[{i}]"), format!("at most {MAX_TEXT_CHARS} characters")));
        }
    }
    problems
}
