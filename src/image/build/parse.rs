//! The Containyfile: a Dockerfile-like list of instructions, parsed into data before anything runs.
//!
//! One instruction per logical line; a `\` at the end of a line continues it on the next; lines starting with
//! `#` are comments (also inside a continuation). Instruction names are case-insensitive. `RUN`, `CMD` and
//! `ENTRYPOINT` take a JSON array (exec form) or a shell command (run with `/bin/sh -c`). Every instruction keeps
//! the line it started on, so an error can name the file, the line and the instruction.

use std::collections::BTreeMap;

/// `RUN`/`CMD`/`ENTRYPOINT`: `["prog", "arg"]` or a string for `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

impl Command {
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Exec(args) => args.clone(),
            Command::Shell(text) => vec!["/bin/sh".into(), "-c".into(), text.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// An image name, or `scratch` (no layers).
    From(String),
    Copy {
        sources: Vec<String>,
        dest: String,
    },
    Run(Command),
    Env(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Cmd(Command),
    Entrypoint(Command),
    Label(BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line the instruction starts on.
    pub line: usize,
    /// The instruction's name, uppercase (`COPY`).
    pub name: String,
    /// The whole instruction, continuations joined: part of the build-cache key.
    pub text: String,
    pub kind: Kind,
}

/// A line that is not a valid instruction: (line, instruction name, what is wrong).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub instruction: String,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Vec<Instruction>, ParseError> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_none()) {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(part) => {
                joined.push_str(part.trim_end());
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                let joined = joined.trim().to_string();
                if !joined.is_empty() {
                    out.push(instruction(start, &joined)?);
                }
            }
        }
    }
    if let Some((start, joined)) = pending {
        let name = joined.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        return Err(ParseError {
            line: start,
            instruction: name,
            message: "the file ends inside a `\\` continuation".into(),
        });
    }
    match out.first() {
        None => {
            Err(ParseError { line: 1, instruction: String::new(), message: "no instructions: start with FROM".into() })
        }
        Some(first) if !matches!(first.kind, Kind::From(_)) => Err(ParseError {
            line: first.line,
            instruction: first.name.clone(),
            message: "the first instruction must be FROM (an image, or scratch)".into(),
        }),
        Some(_) => Ok(out),
    }
}

fn instruction(line: usize, text: &str) -> Result<Instruction, ParseError> {
    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let name = name.to_ascii_uppercase();
    let rest = rest.trim();
    let fail = |message: String| ParseError { line, instruction: name.clone(), message };
    if rest.is_empty() {
        return Err(fail("needs an argument".into()));
    }
    let kind = match name.as_str() {
        "FROM" => {
            let words = words(rest).map_err(fail)?;
            match words.as_slice() {
                [image] => Kind::From(image.clone()),
                _ => return Err(fail("takes one image name (or scratch); stages (AS) are not supported".into())),
            }
        }
        "COPY" => {
            let mut words =
                if rest.starts_with('[') { json_array(rest).map_err(fail)? } else { words(rest).map_err(fail)? };
            if words.iter().any(|w| w.starts_with("--")) {
                return Err(fail("options (--from, --chown) are not supported".into()));
            }
            if words.len() < 2 {
                return Err(fail("needs at least one source and a destination: COPY SRC... DEST".into()));
            }
            let dest = words.pop().unwrap_or_default();
            Kind::Copy { sources: words, dest }
        }
        "RUN" => Kind::Run(command(rest).map_err(fail)?),
        "CMD" => Kind::Cmd(command(rest).map_err(fail)?),
        "ENTRYPOINT" => Kind::Entrypoint(command(rest).map_err(fail)?),
        "ENV" => Kind::Env(pairs(rest, true).map_err(fail)?),
        "LABEL" => Kind::Label(pairs(rest, false).map_err(fail)?.into_iter().collect()),
        "WORKDIR" => Kind::Workdir(single(rest).map_err(fail)?),
        "USER" => Kind::User(single(rest).map_err(fail)?),
        other => {
            return Err(fail(format!(
                "unknown instruction {other}: use FROM, COPY, RUN, ENV, WORKDIR, USER, CMD, ENTRYPOINT or LABEL"
            )));
        }
    };
    Ok(Instruction { line, name, text: text.to_string(), kind })
}

fn single(rest: &str) -> Result<String, String> {
    let words = words(rest)?;
    match words.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!("takes one value, got {}", words.len())),
    }
}

fn command(rest: &str) -> Result<Command, String> {
    if rest.starts_with('[') {
        let args = json_array(rest)?;
        if args.is_empty() {
            return Err("the exec form needs a program: [\"prog\", \"arg\"]".into());
        }
        Ok(Command::Exec(args))
    } else {
        Ok(Command::Shell(rest.to_string()))
    }
}

fn json_array(rest: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(rest).map_err(|e| format!("not a JSON array of strings ({e}): write [\"a\", \"b\"]"))
}

/// `K=V K2="v 2"`; with `legacy`, also ENV's old `K value with spaces`.
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = words(rest)?;
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if legacy && !first_has_eq {
        let (key, value) = rest.split_once(char::is_whitespace).ok_or("write KEY=VALUE")?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Split on whitespace outside quotes; quotes are removed, `\` escapes the next character.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                word.push(chars.next().unwrap_or('\\'));
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_comments_and_continuations_becomes_instructions() {
        let text = "# a comment\nFROM busybox\n\ncopy hello.txt /srv/\nRUN echo one && \\\n    # inside\n    echo two\n\
                    ENV A=1 B=\"two words\"\nENV OLD legacy value\nWORKDIR /srv\nUSER 1000:1000\nCMD [\"cat\", \"x\"]\n\
                    ENTRYPOINT /bin/sh\nLABEL org.x=\"y z\"\n";
        let got = parse(text).unwrap();
        let kinds: Vec<Kind> = got.iter().map(|i| i.kind.clone()).collect();
        assert_eq!(kinds[0], Kind::From("busybox".into()));
        assert_eq!(kinds[1], Kind::Copy { sources: vec!["hello.txt".into()], dest: "/srv/".into() });
        assert_eq!(kinds[2], Kind::Run(Command::Shell("echo one && echo two".into())));
        assert_eq!(got[2].line, 5);
        assert_eq!(kinds[3], Kind::Env(vec![("A".into(), "1".into()), ("B".into(), "two words".into())]));
        assert_eq!(kinds[4], Kind::Env(vec![("OLD".into(), "legacy value".into())]));
        assert_eq!(kinds[5], Kind::Workdir("/srv".into()));
        assert_eq!(kinds[6], Kind::User("1000:1000".into()));
        assert_eq!(kinds[7], Kind::Cmd(Command::Exec(vec!["cat".into(), "x".into()])));
        assert_eq!(Command::Shell("ls".into()).argv(), ["/bin/sh", "-c", "ls"]);
        assert_eq!(got[9].name, "LABEL");
    }

    #[test]
    fn errors_name_the_line_and_the_instruction() {
        let err = parse("FROM busybox\nRUN true\nFETCH x\n").unwrap_err();
        assert_eq!((err.line, err.instruction.as_str()), (3, "FETCH"));
        let err = parse("RUN true\n").unwrap_err();
        assert!(err.message.contains("must be FROM"), "{err:?}");
        let err = parse("FROM a\nCOPY onlyone\n").unwrap_err();
        assert_eq!((err.line, err.instruction.as_str()), (2, "COPY"));
        let err = parse("FROM a\nCMD [\"unclosed\"\n").unwrap_err();
        assert!(err.message.contains("JSON"), "{err:?}");
        let err = parse("FROM a\nRUN echo \\\n").unwrap_err();
        assert!(err.message.contains("continuation"), "{err:?}");
        assert!(parse("FROM a b\n").is_err());
        assert!(parse("FROM a\nENV =x\n").is_err());
    }
}
