//! Sending by e-mail (docs/billing.md "Payments, reminders and sending"): the
//! mail server's settings (never its password), the addresses, the message
//! templates with their placeholders, and the reminder levels.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "MailSecurity")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (usually port 587); required.
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption (a relay on the same machine or network only).
    None,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Starttls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

/// The mail server messages go through. Field problems are keyed `mail.<field>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    /// Who logs in; none for a server that takes mail without logging in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub username: Option<String>,
    /// The sender: an address, or a name and an address ("Acme AI Billing <billing@acme.test>").
    pub from: String,
    /// The subject and body of each kind of message.
    #[serde(default)]
    pub templates: Templates,
}

/// One kind of message's subject and body, with `{placeholders}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "MailTemplate")]
pub struct Template {
    pub subject: String,
    pub body: String,
}

/// The templates of the four kinds of message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "MailTemplates")]
pub struct Templates {
    #[serde(default = "Kind::invoice_template")]
    pub invoice: Template,
    #[serde(default = "Kind::credit_note_template")]
    pub credit_note: Template,
    #[serde(default = "Kind::reminder_template")]
    pub reminder: Template,
    #[serde(default = "Kind::statement_template")]
    pub statement: Template,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            invoice: Kind::invoice_template(),
            credit_note: Kind::credit_note_template(),
            reminder: Kind::reminder_template(),
            statement: Kind::statement_template(),
        }
    }
}

/// What a message sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "MailKind")]
pub enum Kind {
    Invoice,
    CreditNote,
    Reminder,
    Statement,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Invoice, Kind::CreditNote, Kind::Reminder, Kind::Statement];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::CreditNote => "credit_note",
            Kind::Reminder => "reminder",
            Kind::Statement => "statement",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The placeholders a template of this kind may use.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Kind::Invoice => &["number", "amount", "due_date", "customer", "company"],
            Kind::CreditNote => &["number", "amount", "invoice", "customer", "company"],
            Kind::Reminder => &["number", "amount", "due_date", "days_overdue", "level", "customer", "company"],
            Kind::Statement => &["from", "to", "amount", "customer", "company"],
        }
    }

    fn invoice_template() -> Template {
        Template {
            subject: "Invoice {number} from {company}".into(),
            body: "Hello {customer},\n\nplease find attached invoice {number} for {amount}, due on {due_date}.\n\n\
                   Thank you,\n{company}"
                .into(),
        }
    }

    fn credit_note_template() -> Template {
        Template {
            subject: "Credit note {number} from {company}".into(),
            body: "Hello {customer},\n\nplease find attached credit note {number} for {amount}, which corrects \
                   invoice {invoice}.\n\nThank you,\n{company}"
                .into(),
        }
    }

    fn reminder_template() -> Template {
        Template {
            subject: "Reminder: invoice {number} is overdue".into(),
            body: "Hello {customer},\n\nour records show {amount} still owed on invoice {number}, which was due on \
                   {due_date} ({days_overdue} days ago). The invoice is attached. If you have paid it already, \
                   please disregard this message.\n\nThank you,\n{company}"
                .into(),
        }
    }

    fn statement_template() -> Template {
        Template {
            subject: "Statement of account from {company}".into(),
            body: "Hello {customer},\n\nplease find attached your statement of account from {from} to {to}. \
                   Owed in total: {amount}.\n\nThank you,\n{company}"
                .into(),
        }
    }
}

impl Templates {
    pub fn of(&self, kind: Kind) -> &Template {
        match kind {
            Kind::Invoice => &self.invoice,
            Kind::CreditNote => &self.credit_note,
            Kind::Reminder => &self.reminder,
            Kind::Statement => &self.statement,
        }
    }
}

/// The `{name}`s of `text`, or why it does not read (a brace left open or
/// closed alone; `{{` and `}}` are literal braces).
fn placeholders_in(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        let (brace, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.as_bytes().first() == Some(&brace) {
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            return Err("a '}' without its '{' (write }} for a brace)".into());
        }
        let Some(end) = after.find('}') else { return Err("a '{' without its '}' (write {{ for a brace)".into()) };
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// `text` with each `{name}` replaced by its value in `values` (a name it
/// lacks stays as written; `{{` and `}}` become braces).
pub fn fill(text: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (brace, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.as_bytes().first() == Some(&brace) {
            out.push(brace as char);
            rest = &after[1..];
            continue;
        }
        match (brace, after.find('}')) {
            (b'{', Some(end)) => {
                let name = &after[..end];
                match values.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[i..i + end + 2]),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push(brace as char);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `s` reads as one e-mail address (a local part, '@', a domain with a dot).
pub fn is_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
}

/// The addresses of a customer's billing e-mail field: one or several,
/// separated by commas or semicolons.
pub fn addresses(field: &str) -> Vec<String> {
    field.split([',', ';']).map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect()
}

/// Why a billing e-mail field (one or several addresses) does not read.
pub fn addresses_problem(field: &str) -> Option<String> {
    let list = addresses(field);
    if list.len() > 10 {
        return Some("at most 10 billing addresses".into());
    }
    list.iter()
        .find(|a| !is_address(a))
        .map(|a| format!("\"{a}\" is not an email address (several are separated by commas)"))
}

/// The sender's address and display name, from "Name <address>" or "address".
pub fn sender(from: &str) -> Option<(Option<&str>, &str)> {
    let from = from.trim();
    match from.strip_suffix('>').and_then(|f| f.rsplit_once('<')) {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').trim();
            is_address(address.trim()).then_some(((!name.is_empty()).then_some(name), address.trim()))
        }
        None => is_address(from).then_some((None, from)),
    }
}

impl MailSettings {
    /// Trims the text; an empty username is none.
    pub fn normalized(mut self) -> MailSettings {
        self.host = self.host.trim().to_ascii_lowercase();
        self.from = self.from.trim().to_string();
        self.username = self.username.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        self
    }

    /// Every problem, keyed `mail.<field>` (run on normalized settings).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let host_ok = !self.host.is_empty()
            && self.host.len() <= 253
            && self
                .host
                .split('.')
                .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !host_ok {
            out.push(Problem::new(
                "mail.host",
                format!("\"{}\" is not a mail server's host name (e.g. smtp.example.com)", self.host),
            ));
        }
        if self.port == 0 {
            out.push(Problem::new("mail.port", "a port is 1 to 65535 (587 for STARTTLS, 465 for TLS)"));
        }
        if self.username.as_ref().is_some_and(|u| u.chars().count() > 254) {
            out.push(Problem::new("mail.username", "at most 254 characters"));
        }
        if sender(&self.from).is_none() {
            out.push(Problem::new(
                "mail.from",
                format!("\"{}\" is not a sender: an address, or a name and <address>", self.from),
            ));
        }
        for kind in Kind::ALL {
            let template = self.templates.of(kind);
            for (part, text, max) in [("subject", &template.subject, 200), ("body", &template.body, 10_000)] {
                let at = format!("mail.templates.{}.{part}", kind.as_str());
                if text.trim().is_empty() {
                    out.push(Problem::new(at, "write the message's text"));
                    continue;
                }
                if text.chars().count() > max || part == "subject" && text.contains(['\r', '\n']) {
                    out.push(Problem::new(at, format!("one line of at most {max} characters")));
                    continue;
                }
                match placeholders_in(text) {
                    Err(why) => out.push(Problem::new(at, why)),
                    Ok(names) => {
                        if let Some(unknown) = names.iter().find(|n| !kind.placeholders().contains(n)) {
                            let known: Vec<String> = kind.placeholders().iter().map(|p| format!("{{{p}}}")).collect();
                            out.push(Problem::new(
                                at,
                                format!("{{{unknown}}} is not a placeholder here: use {}", known.join(", ")),
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

/// The reminder levels by default: days after the due date.
pub const DEFAULT_REMINDER_DAYS: [u32; 3] = [7, 21, 45];

/// Why reminder levels do not read: one to five, each 1 to 365 days after
/// the due date, each later than the one before.
pub fn reminder_days_problem(days: &[u32]) -> Option<String> {
    if days.is_empty() || days.len() > 5 {
        return Some("one to five reminder levels, in days after the due date (e.g. 7, 21, 45)".into());
    }
    if days.iter().any(|d| !(1..=365).contains(d)) {
        return Some("each reminder is 1 to 365 days after the due date".into());
    }
    if days.windows(2).any(|w| w[0] >= w[1]) {
        return Some("each reminder level comes later than the one before (e.g. 7, 21, 45)".into());
    }
    None
}

/// The reminder an invoice due `days_overdue` days ago gets, given the levels
/// it already got (1-based): the highest level reached that it has not had,
/// if it is higher than every level it had. A level skipped (the run did not
/// happen in time) is not sent later: the customer gets the latest one only.
pub fn reminder_due(days: &[u32], days_overdue: i64, sent: &[u32]) -> Option<u32> {
    let reached = days.iter().take_while(|d| i64::from(**d) <= days_overdue).count() as u32;
    let highest_sent = sent.iter().copied().max().unwrap_or(0);
    (reached > highest_sent).then_some(reached)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MailSettings {
        MailSettings {
            host: " SMTP.Acme.test ".into(),
            port: 587,
            security: Security::Starttls,
            username: Some(" ".into()),
            from: " Acme AI Billing <billing@acme.test> ".into(),
            templates: Templates::default(),
        }
        .normalized()
    }

    #[test]
    fn mail_settings_are_checked_field_by_field() {
        let ok = settings();
        assert_eq!((ok.host.as_str(), ok.username.as_deref()), ("smtp.acme.test", None));
        assert_eq!(ok.problems(), []);
        let with = |f: &dyn Fn(&mut MailSettings)| {
            let mut s = settings();
            f(&mut s);
            s.normalized().problems().into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>()
        };
        for (change, want) in [
            (&(|s: &mut MailSettings| s.host = "smtp acme".into()) as &dyn Fn(&mut MailSettings), "mail.host"),
            (&|s: &mut MailSettings| s.host = "".into(), "mail.host"),
            (&|s: &mut MailSettings| s.port = 0, "mail.port"),
            (&|s: &mut MailSettings| s.from = "billing".into(), "mail.from"),
            (&|s: &mut MailSettings| s.from = "Billing <billing@acme>".into(), "mail.from"),
            (
                &|s: &mut MailSettings| s.templates.invoice.subject = "Invoice {numbr}".into(),
                "mail.templates.invoice.subject: {numbr} is not a placeholder here: use {number}",
            ),
            // A credit note has no due date; a statement has no number.
            (
                &|s: &mut MailSettings| s.templates.credit_note.body = "due {due_date}".into(),
                "mail.templates.credit_note.body: {due_date}",
            ),
            (
                &|s: &mut MailSettings| s.templates.statement.subject = "{number}".into(),
                "mail.templates.statement.subject",
            ),
            (
                &|s: &mut MailSettings| s.templates.reminder.body = "owed {amount".into(),
                "mail.templates.reminder.body: a '{' without its '}'",
            ),
            (
                &|s: &mut MailSettings| s.templates.reminder.body = "owed amount}".into(),
                "mail.templates.reminder.body: a '}' without",
            ),
            (
                &|s: &mut MailSettings| s.templates.invoice.subject = "Invoice\n{number}".into(),
                "mail.templates.invoice.subject: one line",
            ),
            (&|s: &mut MailSettings| s.templates.invoice.body = " ".into(), "mail.templates.invoice.body: write"),
        ] {
            let said = with(change);
            assert!(said.len() == 1 && said[0].starts_with(want), "{want}: {said:?}");
        }
        // Literal braces are fine.
        assert_eq!(with(&|s| s.templates.invoice.body = "{{not a placeholder}} {number}".into()), Vec::<String>::new());
    }

    #[test]
    fn templates_fill_their_placeholders() {
        let values = [("number", "INV-2026-00001".to_string()), ("amount", "1,481.47 EUR".to_string())];
        for (text, want) in [
            ("Invoice {number}: {amount}", "Invoice INV-2026-00001: 1,481.47 EUR"),
            ("{{number}} is {number}", "{number} is INV-2026-00001"),
            ("{unknown} stays", "{unknown} stays"),
            ("a lone } and { stay", "a lone } and { stay"),
            ("Grüße {number}", "Grüße INV-2026-00001"),
        ] {
            assert_eq!(fill(text, &values), want, "{text}");
        }
        let t = Templates::default();
        let filled = fill(&t.invoice.subject, &[("number", "INV-1".into()), ("company", "Acme AI".into())]);
        assert_eq!(filled, "Invoice INV-1 from Acme AI");
    }

    #[test]
    fn addresses_senders_and_billing_lists_read() {
        assert_eq!(addresses(" ap@globex.test, cfo@globex.test ;"), ["ap@globex.test", "cfo@globex.test"]);
        assert_eq!(addresses_problem("ap@globex.test; cfo@globex.test"), None);
        assert!(addresses_problem("ap@globex.test, cfo").unwrap().contains("\"cfo\""));
        assert_eq!(sender("billing@acme.test"), Some((None, "billing@acme.test")));
        assert_eq!(sender("\"Acme AI\" <billing@acme.test>"), Some((Some("Acme AI"), "billing@acme.test")));
        assert_eq!(sender("<billing@acme.test>"), Some((None, "billing@acme.test")));
        assert_eq!(sender("Acme <billing>"), None);
    }

    #[test]
    fn each_reminder_level_goes_once_and_a_missed_one_is_not_sent_late() {
        let days = DEFAULT_REMINDER_DAYS;
        for (overdue, sent, want) in [
            (0, &[][..], None),
            (6, &[], None),
            (7, &[], Some(1)),
            (20, &[1], None),
            (21, &[1], Some(2)),
            (30, &[1, 2], None),
            // A run 50 days after the due date, with nothing sent: the third level only.
            (50, &[], Some(3)),
            (50, &[3], None),
            (400, &[1, 2, 3], None),
            (-3, &[], None),
        ] {
            assert_eq!(reminder_due(&days, overdue, sent), want, "{overdue} days, sent {sent:?}");
        }
        assert_eq!(reminder_days_problem(&days), None);
        assert!(reminder_days_problem(&[]).is_some());
        assert!(reminder_days_problem(&[7, 7]).unwrap().contains("later"));
        assert!(reminder_days_problem(&[0]).unwrap().contains("1 to 365"));
        assert!(reminder_days_problem(&[1, 2, 3, 4, 5, 6]).is_some());
    }
}
