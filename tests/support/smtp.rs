//! A real SMTP server on loopback for the tests (tests/support/smtp_server.py,
//! Debian's python3-aiosmtpd): STARTTLS or TLS on a self-signed certificate
//! made here, a login, and every accepted message kept as a file.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// How the server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secure {
    Starttls,
    Implicit,
    Plain,
}

/// A running server; stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    /// The certificate authority a client must trust (the self-signed certificate), PEM.
    pub ca_pem: String,
    folder: tempfile::TempDir,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's recipients.
    pub rcpt: Vec<String>,
    /// The message's bytes as received.
    pub raw: Vec<u8>,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpServer {
    /// Starts a server; with `login` ("user", "password") it takes mail only
    /// after that login.
    pub fn start(tls: Secure, login: Option<(&str, &str)>) -> SmtpServer {
        let folder = tempfile::tempdir().unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let cert_pem = key.cert.pem();
        std::fs::write(folder.path().join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(folder.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
        let mail = folder.path().join("mail");
        std::fs::create_dir(&mail).unwrap();
        // The script is in the repository's tests/support, above the crate testing.
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("tests/support/smtp_server.py"))
            .find(|p| p.exists())
            .expect("tests/support/smtp_server.py");
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new("/usr/bin/python3");
            command
                .arg(&script)
                .args(["--port", &port.to_string(), "--folder"])
                .arg(&mail)
                .args([
                    "--tls",
                    match tls {
                        Secure::Starttls => "starttls",
                        Secure::Implicit => "tls",
                        Secure::Plain => "none",
                    },
                ])
                .arg("--cert")
                .arg(folder.path().join("cert.pem"))
                .arg("--key")
                .arg(folder.path().join("key.pem"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            if let Some((user, password)) = login {
                command.args(["--login", &format!("{user}:{password}")]);
            }
            let mut child = command.spawn().expect("python3 with aiosmtpd (scripts/install.sh installs it)");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            if line.trim() == format!("ready {port}") {
                let stdin = child.stdin.take();
                return SmtpServer { port, ca_pem: cert_pem, folder, child, stdin };
            }
            // The port was taken between the probe and the server's bind: another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the test SMTP server did not start");
    }

    /// What the server accepted, in order.
    pub fn received(&self) -> Vec<Received> {
        let mail = self.folder.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&mail)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| Received {
                raw: std::fs::read(&eml).unwrap(),
                rcpt: std::fs::read_to_string(eml.with_extension("rcpt"))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect(),
            })
            .collect()
    }

    /// The certificate authority's PEM, written to a file (for `METERDESK_MAIL_CA_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.folder.path().join("cert.pem")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
