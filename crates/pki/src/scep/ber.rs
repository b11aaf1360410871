//! BER to DER, for the parts of SCEP messages real clients encode loosely.
//!
//! Apple's and Go's CMS encoders write indefinite lengths (`30 80 … 00 00`)
//! and chunked (constructed) OCTET STRINGs inside the envelope. X.690
//! section 10 (DER) forbids both; this rewrites them so the strict DER
//! decoder can read the message. It is bounded: depth, node count and size.

use super::ScepError;

const MAX_DEPTH: usize = 48;
const MAX_NODES: usize = 20_000;

enum Node<'a> {
    Primitive {
        tag: &'a [u8],
        value: &'a [u8],
    },
    Constructed {
        tag: &'a [u8],
        children: Vec<Node<'a>>,
    },
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: usize,
}

fn malformed() -> ScepError {
    ScepError::Malformed {
        what: "ber encoding",
    }
}

impl<'a> Parser<'a> {
    fn byte(&mut self) -> Result<u8, ScepError> {
        let b = *self.input.get(self.pos).ok_or_else(malformed)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ScepError> {
        let end = self.pos.checked_add(len).ok_or_else(malformed)?;
        let out = self.input.get(self.pos..end).ok_or_else(malformed)?;
        self.pos = end;
        Ok(out)
    }

    fn node(&mut self, depth: usize) -> Result<Node<'a>, ScepError> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(ScepError::Malformed {
                what: "ber encoding (too deep or too many values)",
            });
        }
        let tag_start = self.pos;
        let first = self.byte()?;
        if first & 0x1f == 0x1f {
            // High tag number: base-128 digits, at most 4 of them.
            for _ in 0..4 {
                if self.byte()? & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag = self.input.get(tag_start..self.pos).ok_or_else(malformed)?;
        let constructed = first & 0x20 != 0;
        let len_byte = self.byte()?;
        if len_byte == 0x80 {
            if !constructed {
                return Err(malformed());
            }
            let mut children = Vec::new();
            loop {
                if self.input.get(self.pos..self.pos + 2) == Some(&[0, 0]) {
                    self.pos += 2;
                    return Ok(Node::Constructed { tag, children });
                }
                children.push(self.node(depth + 1)?);
            }
        }
        let len = if len_byte < 0x80 {
            usize::from(len_byte)
        } else {
            let n = usize::from(len_byte & 0x7f);
            if n > 4 {
                return Err(malformed());
            }
            self.take(n)?
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let value = self.take(len)?;
        if !constructed {
            return Ok(Node::Primitive { tag, value });
        }
        let mut inner = Parser {
            input: value,
            pos: 0,
            nodes: self.nodes,
        };
        let mut children = Vec::new();
        while inner.pos < value.len() {
            children.push(inner.node(depth + 1)?);
        }
        self.nodes = inner.nodes;
        Ok(Node::Constructed { tag, children })
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let digits = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(digits.len()).unwrap_or(0));
        out.extend_from_slice(digits);
    }
}

/// The concatenated contents of a chunked OCTET STRING.
fn flatten(children: &[Node<'_>], out: &mut Vec<u8>) -> Result<(), ScepError> {
    for child in children {
        match child {
            Node::Primitive { tag: [0x04], value } => out.extend_from_slice(value),
            Node::Constructed {
                tag: [0x24],
                children,
            } => flatten(children, out)?,
            _ => return Err(malformed()),
        }
    }
    Ok(())
}

fn encode(node: &Node<'_>, out: &mut Vec<u8>) -> Result<(), ScepError> {
    match node {
        Node::Primitive { tag, value } => {
            out.extend_from_slice(tag);
            push_len(out, value.len());
            out.extend_from_slice(value);
        }
        Node::Constructed {
            tag: [0x24],
            children,
        } => {
            let mut value = Vec::new();
            flatten(children, &mut value)?;
            out.push(0x04);
            push_len(out, value.len());
            out.extend_from_slice(&value);
        }
        Node::Constructed { tag, children } => {
            let mut value = Vec::new();
            for child in children {
                encode(child, &mut value)?;
            }
            out.extend_from_slice(tag);
            push_len(out, value.len());
            out.extend_from_slice(&value);
        }
    }
    Ok(())
}

/// Rewrites one BER value as DER lengths and primitive OCTET STRINGs.
/// DER input comes back unchanged; trailing bytes are refused.
pub(crate) fn to_der(input: &[u8]) -> Result<Vec<u8>, ScepError> {
    let mut parser = Parser {
        input,
        pos: 0,
        nodes: 0,
    };
    let node = parser.node(0)?;
    if parser.pos != input.len() {
        return Err(ScepError::Pki(crate::Error::TrailingData {
            what: "scep message",
            trailing: input.len() - parser.pos,
        }));
    }
    let mut out = Vec::with_capacity(input.len());
    encode(&node, &mut out)?;
    Ok(out)
}

/// The contents of an IMPLICIT OCTET STRING given as a primitive or chunked value.
pub(crate) fn implicit_octets(tag_constructed: bool, value: &[u8]) -> Result<Vec<u8>, ScepError> {
    if !tag_constructed {
        return Ok(value.to_vec());
    }
    let mut parser = Parser {
        input: value,
        pos: 0,
        nodes: 0,
    };
    let mut children = Vec::new();
    while parser.pos < value.len() {
        children.push(parser.node(1)?);
    }
    let mut out = Vec::new();
    flatten(&children, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_lengths_and_chunked_strings_become_der() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0,
        ];
        assert_eq!(
            to_der(&ber).unwrap(),
            vec![0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']
        );
    }

    #[test]
    fn der_is_unchanged_and_garbage_is_refused() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(to_der(&der).unwrap(), der.to_vec());
        assert!(to_der(&[0x30, 0x80, 0x02, 0x01]).is_err());
        assert!(to_der(&[0x04, 0x80, 0, 0]).is_err(), "indefinite primitive");
        assert!(to_der(&[0x30, 0x00, 0xff]).is_err(), "trailing byte");
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(to_der(&deep).is_err());
    }
}
