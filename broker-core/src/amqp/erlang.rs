//! Field values written the way RabbitMQ's reply texts show them: Erlang's
//! `~p` of its decoded form (`<<"all">>`, `{2,150}`, `1.0e20`,
//! `[{longstr,<<"a">>}]`), so that a refusal quoting a peer's value reads
//! exactly as RabbitMQ's does. Nested arrays and tables are written on one
//! line, where Erlang would wrap a long one.

use core::fmt::Write;

use super::{FieldTable, FieldValue};

/// RabbitMQ's name for a value's type (`signedint`, `longstr`, …).
pub fn type_name(v: &FieldValue) -> &'static str {
    match v.tag() {
        b't' => "bool",
        b'b' => "byte",
        b'B' => "unsignedbyte",
        b's' => "short",
        b'u' => "unsignedshort",
        b'I' => "signedint",
        b'i' => "unsignedint",
        b'l' => "long",
        b'f' => "float",
        b'd' => "double",
        b'D' => "decimal",
        b'S' => "longstr",
        b'A' => "array",
        b'T' => "timestamp",
        b'F' => "table",
        b'V' => "void",
        _ => "binary",
    }
}

/// `~p` of the value RabbitMQ decodes `v` to.
pub fn term(v: &FieldValue) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        FieldValue::F32(f) => write_float(out, f64::from(*f)),
        FieldValue::F64(f) => write_float(out, *f),
        FieldValue::Decimal { scale, value } => {
            let _ = write!(out, "{{{scale},{value}}}");
        }
        FieldValue::LongStr(b) | FieldValue::Bytes(b) => write_binary(out, b),
        FieldValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{{{},", type_name(item));
                write_value(out, item);
                out.push('}');
            }
            out.push(']');
        }
        FieldValue::Table(t) => write_table(out, t),
        FieldValue::Void => out.push_str("undefined"),
        FieldValue::Timestamp(t) => {
            let _ = write!(out, "{t}");
        }
        other => {
            let _ = write!(out, "{}", other.as_i64().unwrap_or_default());
        }
    }
}

fn write_table(out: &mut String, t: &FieldTable) {
    out.push('[');
    for (i, (k, v)) in t.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        write_binary(out, k.as_bytes());
        let _ = write!(out, ",{},", type_name(v));
        write_value(out, v);
        out.push('}');
    }
    out.push(']');
}

/// `<<"text">>` when every octet is printable Latin-1 (with Erlang's
/// escapes), else `<<1,2,3>>` (`<<>>` when empty). Octets that are not UTF-8 cannot go into a
/// Rust string and are replaced.
fn write_binary(out: &mut String, b: &[u8]) {
    let printable = |c: u8| matches!(c, 8..=13 | 27 | 32..=126 | 160..=255);
    if b.is_empty() || !b.iter().all(|&c| printable(c)) {
        out.push_str("<<");
        for (i, c) in b.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{c}");
        }
        out.push_str(">>");
        return;
    }
    out.push_str("<<\"");
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x1b' => out.push_str("\\e"),
            c => out.push(c),
        }
    }
    out.push_str("\">>");
}

/// Erlang's shortest round-trip float: plain digits when that is no longer
/// than the exponent form (`100.0`, `0.0001`), else `1.0e20`, `1.5e-7`.
fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        // Erlang has no such floats; RabbitMQ could not have decoded one.
        let _ = write!(out, "{f}");
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    // Rust's `{:e}` is the shortest round-trip form too: "1.2345e14".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    // Where the decimal point goes in `digits` (io_lib_format:insert_decimal).
    let place = exp + 1;
    let len = digits.len() as i32;
    let exp_text = format!("{}", place - 1);
    let exp_cost = exp_text.len() as i32 + 1 + if len == 1 { 2 } else { 1 };
    if place <= 0 {
        if 2 - place <= exp_cost {
            out.push_str("0.");
            out.push_str(&"0".repeat((-place) as usize));
            out.push_str(&digits);
            return;
        }
    } else if place < len {
        out.push_str(&digits[..place as usize]);
        out.push('.');
        out.push_str(&digits[place as usize..]);
        return;
    } else if place - len + 2 <= exp_cost {
        out.push_str(&digits);
        out.push_str(&"0".repeat((place - len) as usize));
        out.push_str(".0");
        return;
    }
    out.push_str(&digits[..1]);
    out.push('.');
    out.push_str(if len == 1 { "0" } else { &digits[1..] });
    out.push('e');
    out.push_str(&exp_text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(b: &[u8]) -> FieldValue {
        FieldValue::LongStr(Bytes::copy_from_slice(b))
    }

    /// Each expectation is what RabbitMQ 3.10.8 wrote for the value.
    #[test]
    fn terms_read_as_rabbitmq_writes_them() {
        let cases: &[(FieldValue, &str)] = &[
            (s(b"foo"), r#"<<"foo">>"#),
            (s(b""), "<<>>"),
            (s(b"a\"b"), r#"<<"a\"b">>"#),
            (s(b"a\\b"), r#"<<"a\\b">>"#),
            (s(b"a\rb\x0b\x08\x0c\n\t\x1b"), r#"<<"a\rb\v\b\f\n\t\e">>"#),
            (s(b"a\x01b"), "<<97,1,98>>"),
            (s(b"\x7f"), "<<127>>"),
            (s(b"\x00"), "<<0>>"),
            (s("café".as_bytes()), "<<\"café\">>"),
            (FieldValue::Bytes(Bytes::from_static(b"all")), r#"<<"all">>"#),
            (FieldValue::I32(-5), "-5"),
            (FieldValue::I64(i64::MIN), "-9223372036854775808"),
            (FieldValue::Timestamp(1 << 63), "9223372036854775808"),
            (FieldValue::Bool(false), "false"),
            (FieldValue::Void, "undefined"),
            (FieldValue::Decimal { scale: 2, value: 150 }, "{2,150}"),
            (FieldValue::Array(vec![]), "[]"),
            (FieldValue::Table(FieldTable::new()), "[]"),
            (FieldValue::Array(vec![s(b"a"), FieldValue::I32(-1)]), r#"[{longstr,<<"a">>},{signedint,-1}]"#),
            (
                FieldValue::Table(FieldTable::from([("k", s(b"v")), ("n", FieldValue::I32(1))])),
                r#"[{<<"k">>,longstr,<<"v">>},{<<"n">>,signedint,1}]"#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(term(v), *want, "{v:?}");
        }
    }

    #[test]
    fn floats_read_as_erlang_prints_them() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (1e20, "1.0e20"),
            (1e-7, "1.0e-7"),
            (-2.5, "-2.5"),
            (123456789012345.0, "123456789012345.0"),
            (1e15, "1.0e15"),
            (1e16, "1.0e16"),
            (0.0001, "0.0001"),
            (0.001, "0.001"),
            (0.0, "0.0"),
        ];
        for (f, want) in cases {
            assert_eq!(term(&FieldValue::F64(*f)), *want, "{f}");
        }
        assert_eq!(term(&FieldValue::F32(0.1)), "0.10000000149011612");
    }
}
