//! Headers exchange: a binding matches on the message's `headers` table
//! instead of the routing key. `x-match` picks the rule: `all` (the default)
//! or `any` of the binding's arguments must be present and equal, ignoring
//! arguments starting with `x-`; `all-with-x` and `any-with-x` include them.
//! A void binding value matches on presence alone, as in RabbitMQ. Any
//! other `x-match` is refused at bind time, with RabbitMQ's texts.

use super::Destination;
use crate::amqp::{erlang, FieldTable, FieldValue};
use crate::error::{AmqpError, Result};

#[derive(Default)]
pub struct HeadersRoutes {
    bindings: Vec<(FieldTable, Destination)>,
}

impl HeadersRoutes {
    pub fn bind(&mut self, args: &FieldTable, dest: Destination) {
        self.bindings.push((args.clone(), dest));
    }

    pub fn unbind(&mut self, args: &FieldTable, dest: Destination) {
        if let Some(i) = self.bindings.iter().position(|(a, d)| a == args && *d == dest) {
            self.bindings.swap_remove(i);
        }
    }

    pub fn route(&self, headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let empty = FieldTable::new();
        let headers = headers.unwrap_or(&empty);
        for (args, dest) in &self.bindings {
            if headers_match(args, headers) {
                out.push(*dest);
            }
        }
    }
}

/// RabbitMQ's check on a new binding: `x-match`, when given, must be a
/// long string naming one of the four modes.
pub fn validate_binding(args: &FieldTable) -> Result<()> {
    match args.get("x-match") {
        None => Ok(()),
        Some(FieldValue::LongStr(s)) if matches!(&s[..], b"all" | b"any" | b"all-with-x" | b"any-with-x") => Ok(()),
        Some(v @ FieldValue::LongStr(_)) => Err(AmqpError::precondition_failed(format_args!(
            "Invalid x-match field value {}; expected all, any, all-with-x, or any-with-x",
            erlang::term(v)
        ))),
        Some(v) => Err(AmqpError::precondition_failed(format_args!(
            "Invalid x-match field type {} (value {}); expected longstr",
            erlang::type_name(v),
            erlang::term(v)
        ))),
    }
}

/// Whether a message's headers match a binding's arguments.
pub fn headers_match(binding: &FieldTable, headers: &FieldTable) -> bool {
    let mode = binding.get("x-match").and_then(FieldValue::as_str).unwrap_or("all");
    let (any, with_x) = match mode {
        "any" => (true, false),
        "all-with-x" => (false, true),
        "any-with-x" => (true, true),
        _ => (false, false),
    };
    let mut considered = binding.iter().filter(|(k, _)| *k != "x-match" && (with_x || !k.starts_with("x-")));
    let matches = |(k, v): (&str, &FieldValue)| match headers.get(k) {
        None => false,
        Some(h) => matches!(v, FieldValue::Void) || same_value(v, h),
    };
    if any {
        considered.any(matches)
    } else {
        considered.all(matches)
    }
}

/// Equality within a type class: integers compare by value whatever their
/// width, strings by octets, as RabbitMQ's `type_class` does.
fn same_value(a: &FieldValue, b: &FieldValue) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y && !matches!(a, FieldValue::Timestamp(_)) == !matches!(b, FieldValue::Timestamp(_));
    }
    match (a, b) {
        (FieldValue::LongStr(x) | FieldValue::Bytes(x), FieldValue::LongStr(y) | FieldValue::Bytes(y)) => x == y,
        (FieldValue::F32(x), FieldValue::F32(y)) => x == y,
        (FieldValue::F64(x), FieldValue::F64(y)) => x == y,
        (FieldValue::F32(x), FieldValue::F64(y)) | (FieldValue::F64(y), FieldValue::F32(x)) => (*x as f64) == *y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(entries: &[(&str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.insert(k, v.clone());
        }
        t
    }

    #[test]
    fn x_match_must_name_a_mode() {
        for mode in ["all", "any", "all-with-x", "any-with-x"] {
            assert_eq!(validate_binding(&t(&[("x-match", FieldValue::str(mode))])), Ok(()));
        }
        assert_eq!(validate_binding(&t(&[("k", FieldValue::str("v"))])), Ok(()));
        let refused = |v: FieldValue| validate_binding(&t(&[("x-match", v)])).unwrap_err();
        let e = refused(FieldValue::str("ALL"));
        assert_eq!(
            (u16::from(e.code), e.text.as_str()),
            (406, "PRECONDITION_FAILED - Invalid x-match field value <<\"ALL\">>; expected all, any, all-with-x, or any-with-x")
        );
        let e = refused(FieldValue::I32(5));
        assert_eq!(e.text, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 5); expected longstr");
        let e = refused(FieldValue::Bytes(bytes::Bytes::from_static(b"all")));
        assert_eq!(e.text, "PRECONDITION_FAILED - Invalid x-match field type binary (value <<\"all\">>); expected longstr");
    }

    #[test]
    fn all_and_any() {
        let all = t(&[("format", FieldValue::str("pdf")), ("type", FieldValue::str("report"))]);
        let mut any = all.clone();
        any.insert("x-match", FieldValue::str("any"));
        let both = t(&[("format", FieldValue::str("pdf")), ("type", FieldValue::str("report")), ("z", FieldValue::I8(1))]);
        let one = t(&[("format", FieldValue::str("pdf"))]);
        let wrong = t(&[("format", FieldValue::str("zip")), ("type", FieldValue::str("log"))]);
        assert!(headers_match(&all, &both));
        assert!(!headers_match(&all, &one));
        assert!(headers_match(&any, &one));
        assert!(!headers_match(&any, &wrong));
        assert!(!headers_match(&all, &FieldTable::new()));
    }

    #[test]
    fn x_arguments_only_count_with_x_modes() {
        let b = t(&[("x-match", FieldValue::str("all")), ("x-tenant", FieldValue::str("a"))]);
        assert!(headers_match(&b, &FieldTable::new()), "x- args ignored: empty all matches");
        let bx = t(&[("x-match", FieldValue::str("all-with-x")), ("x-tenant", FieldValue::str("a"))]);
        assert!(!headers_match(&bx, &FieldTable::new()));
        assert!(headers_match(&bx, &t(&[("x-tenant", FieldValue::str("a"))])));
        let anyx = t(&[("x-match", FieldValue::str("any-with-x")), ("x-tenant", FieldValue::str("a"))]);
        assert!(headers_match(&anyx, &t(&[("x-tenant", FieldValue::str("a"))])));
        let any_empty = t(&[("x-match", FieldValue::str("any"))]);
        assert!(!headers_match(&any_empty, &t(&[("k", FieldValue::I8(1))])));
    }

    #[test]
    fn integers_compare_across_widths_and_void_means_presence() {
        let b = t(&[("n", FieldValue::I32(7)), ("p", FieldValue::Void)]);
        assert!(headers_match(&b, &t(&[("n", FieldValue::U8(7)), ("p", FieldValue::str("anything"))])));
        assert!(!headers_match(&b, &t(&[("n", FieldValue::str("7")), ("p", FieldValue::Bool(true))])));
    }
}
