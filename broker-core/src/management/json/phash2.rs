//! Erlang's `erlang:phash2/1` for the terms RabbitMQ hashes binding
//! arguments as, so a binding's properties key (`key~hash`) is the very one
//! RabbitMQ computes. phash2 is portable across machines and Erlang
//! versions; this follows `make_hash2` in erts' `erl_term_hashing.c`.
//!
//! A field table is the list `[{Key, Type, Value}]` with Type the atom
//! RabbitMQ names the AMQP type with (`longstr`, `long`, `bool`, ...).

use crate::amqp::{FieldTable, FieldValue};

/// The Erlang terms binding arguments are made of.
enum Term<'a> {
    Atom(&'static str),
    Int(i128),
    Float(f64),
    Binary(&'a [u8]),
    Tuple(Vec<Term<'a>>),
    List(Vec<Term<'a>>),
}

const HCONST: u32 = 0x9e37_79b9;
const HCONST_2: u32 = 0x3c6e_f372;
const HCONST_3: u32 = 0xdaa6_6d2b;
const HCONST_4: u32 = 0x78dd_e6e4;
const HCONST_9: u32 = 0x8ff3_4781;
const HCONST_10: u32 = 0x2e2a_c13a;
const HCONST_11: u32 = 0xcc62_3af3;
const HCONST_12: u32 = 0x6a99_b4ac;
const HCONST_13: u32 = 0x08d1_2e65;
/// erts' tag value of `[]` (hashed when it is not the first term).
const NIL_DEF: u32 = 0x2;

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    macro_rules! step {
        ($x:ident, $y:ident, $z:ident, $op:tt, $n:literal) => {
            *$x = $x.wrapping_sub(*$y).wrapping_sub(*$z);
            *$x ^= *$z $op $n;
        };
    }
    step!(a, b, c, >>, 13);
    step!(b, c, a, <<, 8);
    step!(c, a, b, >>, 13);
    step!(a, b, c, >>, 12);
    step!(b, c, a, <<, 16);
    step!(c, a, b, >>, 5);
    step!(a, b, c, >>, 3);
    step!(b, c, a, <<, 10);
    step!(c, a, b, >>, 15);
}

fn hash2(hash: &mut u32, x: u32, y: u32, con: u32) {
    let (mut a, mut b) = (con.wrapping_add(x), con.wrapping_add(y));
    mix(&mut a, &mut b, hash);
}

/// Bob Jenkins' lookup2 over a binary, seeded with `initval`.
fn block_hash(k: &[u8], initval: u32) -> u32 {
    let (mut a, mut b, mut c) = (HCONST, HCONST, initval);
    let word = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let mut chunks = k.chunks_exact(12);
    for ch in &mut chunks {
        a = a.wrapping_add(word(&ch[0..4]));
        b = b.wrapping_add(word(&ch[4..8]));
        c = c.wrapping_add(word(&ch[8..12]));
        mix(&mut a, &mut b, &mut c);
    }
    let rest = chunks.remainder();
    c = c.wrapping_add(k.len() as u32);
    for (i, &byte) in rest.iter().enumerate() {
        let v = u32::from(byte);
        match i {
            0..=3 => a = a.wrapping_add(v << (8 * i)),
            4..=7 => b = b.wrapping_add(v << (8 * (i - 4))),
            // The first octet of c holds the length.
            _ => c = c.wrapping_add(v << (8 * (i - 7))),
        }
    }
    mix(&mut a, &mut b, &mut c);
    c
}

/// erts' `atom_hash`: hashpjw over the atom's (ASCII) name.
fn atom_hash(name: &str) -> u32 {
    let mut h: u32 = 0;
    for &v in name.as_bytes() {
        h = (h << 4).wrapping_add(u32::from(v));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
            h ^= g;
        }
    }
    h
}

fn hash_int(hash: &mut u32, n: i128) {
    if (-(1 << 27)..(1 << 27)).contains(&n) {
        let y = n as i32;
        if y < 0 {
            hash2(hash, y.unsigned_abs(), 0, HCONST);
        }
        hash2(hash, y as u32, 0, HCONST);
    } else {
        // Beyond 28 bits: the magnitude in 64-bit digits, as bignums are.
        let con = if n < 0 { HCONST_10 } else { HCONST_11 };
        let mut m = n.unsigned_abs();
        loop {
            let digit = m as u64;
            hash2(hash, digit as u32, (digit >> 32) as u32, con);
            m >>= 64;
            if m == 0 {
                break;
            }
        }
    }
}

/// What is left to hash: a term, or the rest of a proper list.
enum Pending<'t, 'a> {
    Term(&'t Term<'a>),
    List(&'t [Term<'a>]),
}

/// `erlang:phash2(Term, 1 bsl 32)`.
fn phash2(root: &Term) -> u32 {
    let mut hash: u32 = 0;
    let mut stack: Vec<Pending> = Vec::new();
    let mut next = Pending::Term(root);
    loop {
        match next {
            Pending::Term(Term::List(items)) => {
                next = Pending::List(items);
                continue;
            }
            Pending::List([]) => nil(&mut hash),
            Pending::List(items) => {
                // Leading small integers 0..=255 hash as a string, four at a time.
                let (mut c, mut sh, mut i) = (0, 0u32, 0);
                while let Some(Term::Int(b @ 0..=255)) = items.get(i) {
                    sh = (sh << 8).wrapping_add(*b as u32);
                    if c == 3 {
                        hash2(&mut hash, sh, 0, HCONST_4);
                        (c, sh) = (0, 0);
                    } else {
                        c += 1;
                    }
                    i += 1;
                }
                if c > 0 {
                    hash2(&mut hash, sh, 0, HCONST_4);
                }
                if i == items.len() {
                    // Only octets: what remains is the list's end, [].
                    next = Pending::List(&[]);
                } else {
                    // The head now, the tail (a list again) after it.
                    stack.push(Pending::List(&items[i + 1..]));
                    next = Pending::Term(&items[i]);
                }
                continue;
            }
            Pending::Term(Term::Tuple(elems)) => {
                hash2(&mut hash, elems.len() as u32, 0, HCONST_9);
                if let Some((first, rest)) = elems.split_first() {
                    stack.extend(rest.iter().rev().map(Pending::Term));
                    next = Pending::Term(first);
                    continue;
                }
            }
            Pending::Term(Term::Binary(bytes)) => {
                let con = HCONST_13.wrapping_add(hash);
                hash = if bytes.is_empty() { con } else { block_hash(bytes, con) };
            }
            Pending::Term(Term::Float(f)) => {
                // -0.0 hashes as 0.0.
                let bits = if *f == 0.0 { 0u64 } else { f.to_bits() };
                hash2(&mut hash, (bits >> 32) as u32, bits as u32, HCONST_12);
            }
            Pending::Term(Term::Atom(name)) => {
                let h = atom_hash(name);
                if hash == 0 {
                    hash = h;
                } else {
                    hash2(&mut hash, h, 0, HCONST_3);
                }
            }
            Pending::Term(Term::Int(n)) => hash_int(&mut hash, *n),
        }
        match stack.pop() {
            Some(p) => next = p,
            None => return hash,
        }
    }
}

fn nil(hash: &mut u32) {
    if *hash == 0 {
        *hash = 3_468_870_702;
    } else {
        hash2(hash, NIL_DEF, 0, HCONST_2);
    }
}

/// RabbitMQ's type atom and Erlang value of a field value.
fn typed(v: &FieldValue) -> (&'static str, Term<'_>) {
    match v {
        FieldValue::Bool(b) => ("bool", Term::Atom(if *b { "true" } else { "false" })),
        FieldValue::I8(n) => ("byte", Term::Int((*n).into())),
        FieldValue::U8(n) => ("unsignedbyte", Term::Int((*n).into())),
        FieldValue::I16(n) => ("short", Term::Int((*n).into())),
        FieldValue::U16(n) => ("unsignedshort", Term::Int((*n).into())),
        FieldValue::I32(n) => ("signedint", Term::Int((*n).into())),
        FieldValue::U32(n) => ("unsignedint", Term::Int((*n).into())),
        FieldValue::I64(n) => ("long", Term::Int((*n).into())),
        FieldValue::F32(f) => ("float", Term::Float(f64::from(*f))),
        FieldValue::F64(f) => ("double", Term::Float(*f)),
        FieldValue::Decimal { scale, value } => ("decimal", Term::Tuple(vec![Term::Int((*scale).into()), Term::Int((*value).into())])),
        FieldValue::LongStr(b) => ("longstr", Term::Binary(b)),
        FieldValue::Bytes(b) => ("binary", Term::Binary(b)),
        FieldValue::Timestamp(t) => ("timestamp", Term::Int((*t).into())),
        FieldValue::Void => ("void", Term::Atom("undefined")),
        FieldValue::Array(items) => (
            "array",
            Term::List(
                items
                    .iter()
                    .map(|i| {
                        let (t, v) = typed(i);
                        Term::Tuple(vec![Term::Atom(t), v])
                    })
                    .collect(),
            ),
        ),
        FieldValue::Table(t) => ("table", table(t, false)),
    }
}

fn table(t: &FieldTable, sort: bool) -> Term<'_> {
    let mut entries: Vec<(&str, &FieldValue)> = t.iter().collect();
    if sort {
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    Term::List(
        entries
            .into_iter()
            .map(|(k, v)| {
                let (ty, val) = typed(v);
                Term::Tuple(vec![Term::Binary(k.as_bytes()), Term::Atom(ty), val])
            })
            .collect(),
    )
}

/// RabbitMQ's hash of binding arguments (which it keeps sorted by key).
pub fn binding_args_hash(args: &FieldTable) -> u32 {
    phash2(&table(args, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(v: &str) -> FieldValue {
        FieldValue::LongStr(Bytes::from(v.to_string()))
    }

    /// `erlang:phash2([1,2,3,4,5,a], 1 bsl 32)`.
    const OCTETS: u32 = 3182482923;

    /// Expected values from `erlang:phash2(T, 1 bsl 32)` on Erlang/OTP 25,
    /// each table in the order of the Erlang term.
    #[test]
    fn matches_erlang() {
        let cases: Vec<(FieldTable, u32)> = vec![
            (FieldTable::from([("x-foo", s("bar"))]), 272281573),
            (FieldTable::from([("x-match", s("all")), ("x-n", FieldValue::I64(1))]), 3262666532),
            (
                FieldTable::from([
                    ("k", FieldValue::I64(-5)),
                    ("l", FieldValue::I64(5_000_000_000)),
                    ("m", FieldValue::I64(-5_000_000_000)),
                    ("n", FieldValue::I64(134_217_728)),
                    ("o", FieldValue::I64(-134_217_728)),
                    ("p", FieldValue::I64(134_217_727)),
                ]),
                4035958405,
            ),
            (
                FieldTable::from([
                    ("d", FieldValue::F64(1.5)),
                    ("b", FieldValue::Bool(true)),
                    ("t", FieldValue::Table(FieldTable::from([("a", FieldValue::I64(1))]))),
                    ("arr", FieldValue::Array(vec![FieldValue::I64(1), s("two")])),
                ]),
                3939096699,
            ),
            (
                FieldTable::from([("v", FieldValue::Void), ("e", FieldValue::Array(vec![])), ("t0", FieldValue::Table(FieldTable::new()))]),
                1539486329,
            ),
            (FieldTable::from([("long-binary-over-12-bytes", s("0123456789abcdefghijklmnop")), ("", s(""))]), 3034116591),
            (
                FieldTable::from([
                    ("dec", FieldValue::Decimal { scale: 2, value: 150 }),
                    ("big", FieldValue::I64(i64::MAX)),
                    ("neg", FieldValue::I64(i64::MIN)),
                ]),
                2288407463,
            ),
            (
                FieldTable::from([
                    ("f", FieldValue::F32(0.5)),
                    ("z", FieldValue::F64(0.0)),
                    ("ts", FieldValue::Timestamp(1_700_000_000)),
                    ("x", FieldValue::Bytes(Bytes::from_static(&[1, 2, 3]))),
                    ("sb", FieldValue::I8(-3)),
                    ("ub", FieldValue::U8(200)),
                ]),
                3691020075,
            ),
            (
                FieldTable::from([
                    ("s", FieldValue::I16(-300)),
                    ("us", FieldValue::U16(60000)),
                    ("i", FieldValue::I32(-70000)),
                    ("ui", FieldValue::U32(4_000_000_000)),
                    ("fl", FieldValue::Bool(false)),
                ]),
                357642057,
            ),
        ];
        for (i, (t, want)) in cases.iter().enumerate() {
            assert_eq!(phash2(&table(t, false)), *want, "case {i}");
        }
        // RabbitMQ keeps binding arguments sorted by key.
        let unsorted = FieldTable::from([("x-n", FieldValue::I64(1)), ("x-match", s("all"))]);
        assert_eq!(binding_args_hash(&unsorted), 3262666532);
        // A list of octets hashes as a string.
        let octets = Term::List(vec![Term::Int(1), Term::Int(2), Term::Int(3), Term::Int(4), Term::Int(5), Term::Atom("a")]);
        assert_eq!(phash2(&octets), OCTETS);
    }
}
