//! Users and SASL: PLAIN and AMQPLAIN responses checked against salted
//! SHA-256 password hashes in RabbitMQ's format
//! (`base64(salt[4] ++ sha256(salt ++ password))`), so definitions exported
//! from RabbitMQ carry over.

use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::amqp::table::FieldTable;
use crate::amqp::wire::Reader;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    /// RabbitMQ's `rabbit_password_hashing_sha256` format, base64.
    pub password_hash: String,
    pub tags: Vec<String>,
    /// Only peers on a loopback address may log in (RabbitMQ's rule for guest).
    pub loopback_only: bool,
}

impl User {
    pub fn new(name: &str, password: &str, salt: [u8; 4]) -> Self {
        User { name: name.to_string(), password_hash: hash_password(password, salt), tags: Vec::new(), loopback_only: false }
    }

    pub fn check_password(&self, password: &[u8]) -> bool {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(&self.password_hash) else {
            return false;
        };
        if raw.len() != 4 + 32 {
            return false;
        }
        let digest = salted_sha256(&raw[..4], password);
        // Constant-time comparison: no early exit on the first differing octet.
        digest.iter().zip(&raw[4..]).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn salted_sha256(salt: &[u8], password: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password);
    h.finalize().into()
}

/// Hashes a password the way RabbitMQ stores it. The salt comes from the
/// caller: the core draws no randomness of its own.
pub fn hash_password(password: &str, salt: [u8; 4]) -> String {
    let mut raw = salt.to_vec();
    raw.extend_from_slice(&salted_sha256(&salt, password.as_bytes()));
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Username and password from a SASL response.
#[derive(Debug, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: Bytes,
}

/// Parses a start-ok response for `mechanism`, or `None` if malformed.
pub fn parse_response(mechanism: &str, response: &Bytes) -> Option<Credentials> {
    match mechanism {
        // authzid \0 authcid \0 password
        "PLAIN" => {
            let mut parts = response.split(|&b| b == 0);
            let _authzid = parts.next()?;
            let user = parts.next()?;
            let pass = parts.next()?;
            if parts.next().is_some() {
                return None;
            }
            let start = response.len() - pass.len();
            Some(Credentials { username: String::from_utf8(user.to_vec()).ok()?, password: response.slice(start..) })
        }
        // A field table's entries without its length prefix.
        "AMQPLAIN" => {
            let mut framed = Vec::with_capacity(response.len() + 4);
            framed.extend_from_slice(&(response.len() as u32).to_be_bytes());
            framed.extend_from_slice(response);
            let table = FieldTable::read(&mut Reader::new(Bytes::from(framed)), 0).ok()?;
            let login = table.get("LOGIN")?.as_str()?.to_string();
            let password = match table.get("PASSWORD")? {
                crate::amqp::FieldValue::LongStr(b) | crate::amqp::FieldValue::Bytes(b) => b.clone(),
                _ => return None,
            };
            Some(Credentials { username: login, password })
        }
        _ => None,
    }
}

pub const MECHANISMS: &str = "PLAIN AMQPLAIN";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::FieldValue;
    use bytes::BytesMut;

    #[test]
    fn password_hash_matches_rabbitmq_format() {
        // `rabbitmqctl hash_password guest` style output: salt CAFEBABE.
        let h = hash_password("guest", [0xca, 0xfe, 0xba, 0xbe]);
        let raw = base64::engine::general_purpose::STANDARD.decode(&h).unwrap();
        assert_eq!(&raw[..4], &[0xca, 0xfe, 0xba, 0xbe]);
        let u = User { name: "guest".into(), password_hash: h, tags: vec![], loopback_only: true };
        assert!(u.check_password(b"guest"));
        assert!(!u.check_password(b"guesT"));
    }

    #[test]
    fn plain_and_amqplain_responses_parse() {
        let plain = Bytes::from_static(b"\0alice\0s3cret");
        let c = parse_response("PLAIN", &plain).unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(&c.password[..], b"s3cret");
        assert_eq!(parse_response("PLAIN", &Bytes::from_static(b"alice")), None);

        let t = FieldTable::from([("LOGIN", FieldValue::str("bob")), ("PASSWORD", FieldValue::str("pw"))]);
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        let body = buf.freeze().slice(4..);
        let c = parse_response("AMQPLAIN", &body).unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(&c.password[..], b"pw");
        assert_eq!(parse_response("CRAM-MD5", &body), None);
    }
}
