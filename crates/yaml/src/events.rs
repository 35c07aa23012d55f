//! YAML as a stream of parse events, for readers that must apply their own
//! typing rules to scalars (Helm's `fromYaml` reads YAML 1.1 as go-yaml v2
//! does, where `yes` is a bool and `0755` is octal): each scalar keeps its
//! source text, its style and its tag.

use crate::YamlError;

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// One parse event. Anchors are numbered from 1 in document order; 0 means
/// none. Tags are resolved (`!!str` is `tag:yaml.org,2002:str`).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    DocumentStart,
    DocumentEnd,
    Alias {
        anchor: usize,
    },
    Scalar {
        value: String,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<String>,
    },
    SequenceStart {
        anchor: usize,
        tag: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: usize,
        tag: Option<String>,
    },
    MappingEnd,
}

/// Reads events one at a time, so a reader can stop after the first
/// document without parsing (or failing on) the rest of the stream.
pub struct EventReader<'a> {
    parser: yaml_rust2::parser::Parser<std::str::Chars<'a>>,
    done: bool,
}

impl<'a> EventReader<'a> {
    pub fn new(input: &'a str) -> Self {
        EventReader {
            parser: yaml_rust2::parser::Parser::new_from_str(input),
            done: false,
        }
    }
}

fn tag_text(tag: Option<yaml_rust2::parser::Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

impl Iterator for EventReader<'_> {
    type Item = Result<Event, YamlError>;

    fn next(&mut self) -> Option<Self::Item> {
        use yaml_rust2::parser::Event as Raw;
        use yaml_rust2::scanner::TScalarStyle;
        while !self.done {
            let (raw, _) = match self.parser.next_token() {
                Ok(ev) => ev,
                Err(e) => {
                    self.done = true;
                    let mark = e.marker();
                    return Some(Err(YamlError {
                        message: e.info().to_owned(),
                        line: Some(mark.line()),
                        column: Some(mark.col() + 1),
                    }));
                }
            };
            let event = match raw {
                Raw::StreamEnd => {
                    self.done = true;
                    return None;
                }
                Raw::Nothing | Raw::StreamStart => continue,
                Raw::DocumentStart => Event::DocumentStart,
                Raw::DocumentEnd => Event::DocumentEnd,
                Raw::Alias(anchor) => Event::Alias { anchor },
                Raw::Scalar(value, style, anchor, tag) => Event::Scalar {
                    value,
                    style: match style {
                        TScalarStyle::Plain => ScalarStyle::Plain,
                        TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                        TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                        TScalarStyle::Literal => ScalarStyle::Literal,
                        TScalarStyle::Folded => ScalarStyle::Folded,
                    },
                    anchor,
                    tag: tag_text(tag),
                },
                Raw::SequenceStart(anchor, tag) => Event::SequenceStart {
                    anchor,
                    tag: tag_text(tag),
                },
                Raw::SequenceEnd => Event::SequenceEnd,
                Raw::MappingStart(anchor, tag) => Event::MappingStart {
                    anchor,
                    tag: tag_text(tag),
                },
                Raw::MappingEnd => Event::MappingEnd,
            };
            return Some(Ok(event));
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text_style_and_tag() {
        let events: Vec<Event> = EventReader::new("a: yes\nb: !!str 1\nc: 'x'\n")
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(events.contains(&Event::Scalar {
            value: "yes".into(),
            style: ScalarStyle::Plain,
            anchor: 0,
            tag: None
        }));
        assert!(events.contains(&Event::Scalar {
            value: "1".into(),
            style: ScalarStyle::Plain,
            anchor: 0,
            tag: Some("tag:yaml.org,2002:str".into())
        }));
        assert!(events.contains(&Event::Scalar {
            value: "x".into(),
            style: ScalarStyle::SingleQuoted,
            anchor: 0,
            tag: None
        }));
    }

    #[test]
    fn errors_carry_the_line() {
        let err = EventReader::new("a: [1, 2\n")
            .find_map(Result::err)
            .unwrap();
        assert!(err.line.is_some());
    }
}
