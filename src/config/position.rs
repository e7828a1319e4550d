//! Where in the file a field is: byte offsets turned into `line:column`, and dotted field paths found in the text.
//!
//! Errors raised while deserializing already carry a position (TOML gives a byte span, JSON a line and column).
//! Checks that look at two fields at once run after deserializing, when positions are gone, so for those the key is
//! looked up again in the text: TOML through `toml`'s spanned document (`DeTable`), JSON through a small scanner
//! that walks the (already valid) document. Lines and columns are 1-based; columns count characters, as editors do.

use toml::de::{DeArray, DeTable, DeValue};

use super::Format;

/// One step of a field path: `mounts[1].destination` is `Key(mounts)`, `Index(1)`, `Key(destination)`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Split a dotted field path as this module writes them (`process.rlimits[0].soft`).
pub(super) fn segments(field: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else { break };
            if let Ok(i) = inner[..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &inner[close + 1..];
        }
    }
    out
}

/// 1-based line and column of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    Some((line, column))
}

/// The line and column of the key (or array element) that `field` names, if the text has it.
pub(super) fn find_field(text: &str, format: Format, field: &str) -> Option<(usize, usize)> {
    let path = segments(field);
    let offset = match format {
        Format::Toml => find_in_toml(text, &path)?,
        Format::Json => JsonScanner { text, pos: 0 }.find(&path)?,
    };
    line_column(text, offset)
}

fn find_in_toml(text: &str, path: &[Segment]) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable> = Some(root.get_ref());
    let mut array: Option<&DeArray> = None;
    let mut at = None;
    for segment in path {
        let value = match segment {
            Segment::Key(name) => {
                let (key, value) = table?.iter().find(|(key, _)| key.get_ref().as_ref() == *name)?;
                at = Some(key.span().start);
                value
            }
            Segment::Index(i) => {
                let value = array?.get(*i)?;
                at = Some(value.span().start);
                value
            }
        };
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    at
}

/// Just enough of a JSON reader to find where a key is. The text has already been parsed by `serde_json`, so
/// anything unexpected simply means "not found".
struct JsonScanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> JsonScanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Reads a string and returns its raw (still escaped) contents; our keys never need unescaping.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => break,
                _ => self.pos += 1,
            }
        }
        self.pos += 1;
        self.text.get(start..self.pos - 1)
    }

    fn skip_value(&mut self) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')) {
                    self.pos += 1;
                }
                Some(())
            }
        }
    }

    fn find(&mut self, path: &[Segment]) -> Option<usize> {
        self.skip_whitespace();
        let Some((first, rest)) = path.split_first() else {
            return Some(self.pos);
        };
        match first {
            Segment::Key(name) => {
                self.eat(b'{')?;
                loop {
                    self.skip_whitespace();
                    let key_at = self.pos;
                    let key = self.string()?;
                    self.eat(b':')?;
                    if key == *name {
                        return if rest.is_empty() { Some(key_at) } else { self.find(rest) };
                    }
                    self.skip_value()?;
                    self.eat(b',')?;
                }
            }
            Segment::Index(wanted) => {
                self.eat(b'[')?;
                for _ in 0..*wanted {
                    self.skip_value()?;
                    self.eat(b',')?;
                }
                self.find(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_field_paths() {
        use Segment::*;
        assert_eq!(segments("process.user.uid"), vec![Key("process"), Key("user"), Key("uid")]);
        assert_eq!(segments("mounts[1].destination"), vec![Key("mounts"), Index(1), Key("destination")]);
        assert_eq!(segments("hostname"), vec![Key("hostname")]);
    }

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), Some((1, 1)));
        assert_eq!(line_column(text, 6), Some((2, 1)));
        assert_eq!(line_column(text, text.find('=').unwrap()), Some((1, 3)));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, text.rfind('=').unwrap()), Some((2, 4)));
    }

    #[test]
    fn finds_keys_in_toml() {
        let text = "hostname = \"x\"\n\n[process]\nargs = [\"sh\"]\n[process.user]\nuid = 5\n\n\
                    [[mounts]]\ndestination = \"/a\"\n[[mounts]]\nsource = \"b\"\ndestination = \"/b\"\n\
                    [rootfs]\nmode = \"split\"\n";
        assert_eq!(find_field(text, Format::Toml, "hostname"), Some((1, 1)));
        assert_eq!(find_field(text, Format::Toml, "process.user.uid"), Some((6, 1)));
        assert_eq!(find_field(text, Format::Toml, "mounts[1].destination"), Some((12, 1)));
        assert_eq!(find_field(text, Format::Toml, "rootfs.mode"), Some((14, 1)));
        assert_eq!(find_field(text, Format::Toml, "rootfs.path"), None);
        assert_eq!(find_field(text, Format::Toml, "mounts[2]"), None);
    }

    #[test]
    fn finds_dotted_and_inline_keys_in_toml() {
        let text = "process.args = [\"sh\"]\nrootfs = { path = \"r\", tarball = \"t.tar\" }\n";
        assert_eq!(find_field(text, Format::Toml, "process.args"), Some((1, 9)));
        assert_eq!(find_field(text, Format::Toml, "rootfs.tarball"), Some((2, 24)));
    }

    #[test]
    fn finds_keys_in_json() {
        let text = r#"{
  "hostname": "x",
  "process": {"args": ["sh", "-c", "a \" } ] b"], "user": {"uid": 5}},
  "mounts": [
    {"destination": "/a", "extra": [1, {"x": [2]}]},
    {"source": "b", "destination": "/b"}
  ],
  "rootfs": {"mode": "split"}
}"#;
        assert_eq!(find_field(text, Format::Json, "hostname"), Some((2, 3)));
        assert_eq!(find_field(text, Format::Json, "process.user.uid"), Some((3, 60)));
        assert_eq!(find_field(text, Format::Json, "mounts[1]"), Some((6, 5)));
        assert_eq!(find_field(text, Format::Json, "mounts[1].destination"), Some((6, 21)));
        assert_eq!(find_field(text, Format::Json, "rootfs.mode"), Some((8, 14)));
        assert_eq!(find_field(text, Format::Json, "rootfs.path"), None);
        assert_eq!(find_field(text, Format::Json, "mounts[5]"), None);
    }
}
