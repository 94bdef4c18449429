//! The mail server's password and the connection to it. The password never
//! enters a workspace (so never a backup or an export): it is kept in the
//! operating system's keychain (the Secret Service on Linux, Keychain on
//! macOS, the Credential Manager on Windows, through the `keyring` crate)
//! when one takes it, otherwise in `mail-passwords.json` in this user's
//! configuration folder (`~/.config/meterdesk` on Linux), a file only this
//! user may read or write (mode 0600, in a folder of mode 0700); by login
//! and server either way. `METERDESK_MAIL_CA_FILE` names a certificate
//! authority to trust besides the system's (a company's own mail server).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use meterdesk_engine::outbox::smtp::{Secrets, Smtp};
use meterdesk_engine::settings::MailSettings;
use meterdesk_engine::{Error, Result};

pub const CA_VAR: &str = "METERDESK_MAIL_CA_FILE";

fn password_file() -> PathBuf {
    dirs::config_dir().unwrap_or_else(std::env::temp_dir).join("meterdesk").join("mail-passwords.json")
}

/// Which password of the file a server's login uses.
fn key(mail: &MailSettings) -> String {
    format!("{}@{}:{}", mail.username.as_deref().unwrap_or(""), mail.host, mail.port)
}

fn read_all() -> Result<BTreeMap<String, String>> {
    let file = password_file();
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Io(format!("the mail password file {} does not read: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::Io(format!("the mail password file {} cannot be read: {e}", file.display()))),
    }
}

/// Where a password is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Keychain,
    /// The file's path.
    File(PathBuf),
    Nowhere,
}

impl Kept {
    pub fn words(&self) -> String {
        match self {
            Kept::Keychain => "in the system keychain".into(),
            Kept::File(path) => format!("in {}, a file only this user reads", path.display()),
            Kept::Nowhere => "nowhere".into(),
        }
    }
}

const KEYCHAIN_SERVICE: &str = "Meterdesk mail server";

/// The keychain's entry for the server's login, when the system has a keychain.
fn keychain(mail: &MailSettings) -> Option<keyring::Entry> {
    keyring::Entry::new(KEYCHAIN_SERVICE, &key(mail)).ok()
}

/// The password kept for the server's login, if any: the keychain's, else the file's.
pub fn password(mail: &MailSettings) -> Result<Option<String>> {
    if let Some(Ok(p)) = keychain(mail).map(|e| e.get_password()) {
        return Ok(Some(p));
    }
    Ok(read_all()?.remove(&key(mail)))
}

/// Where the server's login's password is kept.
pub fn kept(mail: &MailSettings) -> Kept {
    if keychain(mail).is_some_and(|e| e.get_password().is_ok()) {
        Kept::Keychain
    } else if read_all().is_ok_and(|all| all.contains_key(&key(mail))) {
        Kept::File(password_file())
    } else {
        Kept::Nowhere
    }
}

/// Keeps (or with `None` forgets) the password of the server's login: in the
/// system keychain when it takes it, else in a file only this user reads.
/// Returns where it went.
pub fn set_password(mail: &MailSettings, password: Option<&str>) -> Result<Kept> {
    let entry = keychain(mail);
    match password {
        Some(p) if entry.as_ref().is_some_and(|e| e.set_password(p).is_ok()) => {
            // In the keychain: no copy stays in the file.
            if read_all()?.contains_key(&key(mail)) {
                write_file(mail, None)?;
            }
            Ok(Kept::Keychain)
        }
        Some(p) => {
            write_file(mail, Some(p))?;
            Ok(Kept::File(password_file()))
        }
        None => {
            if let Some(e) = entry {
                // Nothing kept there is fine too.
                let _ = e.delete_credential();
            }
            write_file(mail, None)?;
            Ok(Kept::Nowhere)
        }
    }
}

/// Writes (or removes) the login's password in the file: to a new file then
/// moved over the old, readable by this user only.
fn write_file(mail: &MailSettings, password: Option<&str>) -> Result<()> {
    let mut all = read_all()?;
    match password {
        Some(p) => all.insert(key(mail), p.to_string()),
        None => all.remove(&key(mail)),
    };
    let file = password_file();
    let io = |e: std::io::Error| Error::Io(format!("the mail password cannot be kept in {}: {e}", file.display()));
    let dir = file.parent().expect("a folder");
    std::fs::create_dir_all(dir).map_err(io)?;
    let temporary = file.with_extension("json.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let mut out = options.open(&temporary).map_err(io)?;
    out.write_all(serde_json::to_string_pretty(&all).expect("passwords serialize").as_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&temporary, &file).map_err(io)
}

/// Whether a password is kept for the server's login.
pub fn has_password(mail: &MailSettings) -> bool {
    kept(mail) != Kept::Nowhere
}

/// A connection to the workspace's mail server, with its password and the
/// extra certificate authority, if any.
pub fn transport(mail: &MailSettings) -> Result<Smtp> {
    let extra_root_pem = match std::env::var_os(CA_VAR) {
        Some(path) => Some(
            std::fs::read(&path)
                .map_err(|e| Error::Io(format!("{CA_VAR}={} cannot be read: {e}", PathBuf::from(&path).display())))?,
        ),
        None => None,
    };
    Smtp::new(mail, &Secrets { password: password(mail)?, extra_root_pem })
}

/// Connections at once for a retry or a reminder run: a server answers each
/// message after a round trip or two, so several connections send more in a second.
pub const LANES: usize = 8;

/// [`LANES`] connections to the workspace's mail server (or fewer for fewer messages).
pub fn transports(mail: &MailSettings, wanted: usize) -> Result<Vec<Smtp>> {
    (0..wanted.clamp(1, LANES)).map(|_| transport(mail)).collect()
}

/// The connections as the engine's lanes.
pub fn lanes(transports: &mut [Smtp]) -> Vec<&mut dyn meterdesk_engine::outbox::Transport> {
    transports.iter_mut().map(|t| t as &mut dyn meterdesk_engine::outbox::Transport).collect()
}
