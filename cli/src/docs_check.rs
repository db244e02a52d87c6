//! Docs that match the commands: every `peerlink …` command line of the
//! documentation (fenced blocks and inline code of README.md and
//! infra/README.md, and the comments of peerlink.example.toml) is parsed
//! with the real command-line definition. A documented flag or subcommand
//! that does not exist fails here. Placeholders (FILE, pcx-…) are values,
//! which clap does not judge; `[…]` around optional parts is dropped. Inline
//! code in prose may name a command without its required arguments
//! (`peerlink deploy-params`); a fenced command line may not.

use clap::Parser;
use clap::error::ErrorKind;

use crate::args::Cli;

/// Documents with command lines, from the repository root.
// docs/scaling.md names no command (a test would say the extractor is blind).
const DOCS: [&str; 4] = [
    "README.md",
    "infra/README.md",
    "docs/performance.md",
    "peerlink.example.toml",
];

/// A command line found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    line: usize,
    args: Vec<String>,
    /// A mention in prose (inline code): required arguments may be left out.
    mention: bool,
}

/// The arguments after `peerlink` in a shell line, for every command of it
/// that runs peerlink (`peerlink …`, `target/release/peerlink …`, `cargo run
/// -p peerlink-cli -- …`), including inside `$(…)` and after `&&`, `|`, `;`.
fn commands_in_shell(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let without_comment = strip_comment(line);
    let separated = without_comment.replace("$(", "\n").replace([')', '`'], "\n");
    for segment in separated.split(['\n', ';', '|', '&']) {
        let words = split_words(segment);
        // Skip a prompt and VAR=value assignments before the command.
        let mut words = words
            .into_iter()
            .skip_while(|w| w == "$" || (w.contains('=') && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())))
            .peekable();
        let Some(first) = words.next() else { continue };
        let rest: Vec<String> = words.collect();
        // A bare `peerlink` names the library or the command, not a command line.
        if (first == "peerlink" || first.ends_with("/peerlink")) && !rest.is_empty() {
            out.push(rest);
        } else if first == "cargo" && rest.starts_with(&["run".into()]) && rest.iter().any(|w| w == "peerlink-cli") {
            if let Some(i) = rest.iter().position(|w| w == "--") {
                out.push(rest[i + 1..].to_vec());
            }
        }
    }
    out
}

/// A shell line without its `# comment` (a `#` at a word start, outside quotes).
fn strip_comment(line: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut prev = ' ';
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if prev.is_whitespace() => break,
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Words as a shell splits them (quotes removed; no expansion).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\\') => {}
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Inline code spans of prose (a paragraph: a span may wrap to the next
/// line) that are peerlink commands, each with the line it starts on
/// (counted from 0 in `text`), the `[optional]` brackets of usage notation
/// removed.
fn inline_commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut line = 0;
    for (k, piece) in text.split('`').enumerate() {
        let span = piece.replace('\n', " ");
        if k % 2 == 1 && span.starts_with("peerlink ") {
            out.extend(
                commands_in_shell(&span.replace(['[', ']'], " "))
                    .into_iter()
                    .map(|a| (line, a)),
            );
        }
        line += piece.matches('\n').count();
    }
    out
}

/// Command lines of a Markdown document: fenced blocks (with `\`
/// continuations joined) and inline code.
fn markdown_commands(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    let mut pending: Option<(usize, String)> = None;
    // The paragraph of prose being read: its first line and its text.
    let mut prose: Option<(usize, String)> = None;
    let flush = |prose: &mut Option<(usize, String)>, out: &mut Vec<Found>| {
        if let Some((first, text)) = prose.take() {
            out.extend(inline_commands(&text).into_iter().map(|(line, args)| Found {
                line: first + line,
                args,
                mention: true,
            }));
        }
    };
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                flush(&mut prose, &mut out);
                fence = Some(m);
                continue;
            }
            (Some(open), Some(m)) if open == m => {
                fence = None;
                continue;
            }
            _ => {}
        }
        if fence.is_some() {
            let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
            match line.trim_end().strip_suffix('\\') {
                Some(head) => {
                    joined.push_str(head);
                    joined.push(' ');
                    pending = Some((start, joined));
                }
                None => {
                    joined.push_str(line);
                    out.extend(commands_in_shell(&joined).into_iter().map(|args| Found {
                        line: start,
                        args,
                        mention: false,
                    }));
                }
            }
        } else if line.trim().is_empty() {
            flush(&mut prose, &mut out);
        } else {
            let (_, paragraph) = prose.get_or_insert_with(|| (i + 1, String::new()));
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    flush(&mut prose, &mut out);
    out
}

/// Command lines of the TOML example's comments: inline code, and a
/// command after a colon (`# Check it with:  peerlink check-config …`).
fn toml_commands(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let found = |args, mention| Found {
            line: i + 1,
            args,
            mention,
        };
        out.extend(inline_commands(comment).into_iter().map(|(_, args)| found(args, true)));
        if let Some((_, after)) = comment.split_once(':') {
            if after.trim_start().starts_with("peerlink ") {
                out.extend(commands_in_shell(after).into_iter().map(|args| found(args, false)));
            }
        }
    }
    out
}

fn commands(name: &str, text: &str) -> Vec<Found> {
    if name.ends_with(".toml") {
        toml_commands(text)
    } else {
        markdown_commands(text)
    }
}

/// Why the command line does not parse, if it does not.
fn check(found: &Found) -> Result<(), String> {
    let args = std::iter::once("peerlink".to_string()).chain(found.args.iter().cloned());
    match Cli::try_parse_from(args) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => Ok(()),
        Err(e) => {
            let message = e.to_string().lines().next().unwrap_or_default().to_string();
            let incomplete =
                e.kind() == ErrorKind::MissingRequiredArgument || message.contains("but none was supplied");
            if found.mention && incomplete {
                Ok(())
            } else {
                Err(message)
            }
        }
    }
}

fn problems(name: &str, text: &str) -> (usize, Vec<String>) {
    let found = commands(name, text);
    let bad = found
        .iter()
        .filter_map(|f| {
            check(f)
                .err()
                .map(|e| format!("{name}:{}: `peerlink {}`: {e}", f.line, f.args.join(" ")))
        })
        .collect();
    (found.len(), bad)
}

#[test]
fn documented_commands_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all_bad = Vec::new();
    let mut total = 0;
    for name in DOCS {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let (count, bad) = problems(name, &text);
        assert!(
            count > 0,
            "no peerlink command found in {name}: is the extractor looking?"
        );
        total += count;
        all_bad.extend(bad);
    }
    assert!(total >= 10, "only {total} documented commands found");
    assert!(
        all_bad.is_empty(),
        "documented commands the CLI rejects:\n{}",
        all_bad.join("\n")
    );
}

#[test]
fn a_flag_that_does_not_exist_is_caught() {
    let md = "Check it:\n\n```sh\npeerlink check-config --file x.toml   # the old flag\n```\n";
    let (count, bad) = problems("README.md", md);
    assert_eq!(count, 1);
    assert!(
        bad[0].contains("README.md:4: `peerlink check-config --file x.toml`"),
        "{bad:?}"
    );
    assert!(bad[0].contains("--file"), "{bad:?}");
    let toml = "# Check it with:  peerlink check-config --file peerlink.toml\n# `peerlink doctr` reports them\n";
    let (count, bad) = problems("peerlink.example.toml", toml);
    assert_eq!((count, bad.len()), (2, 2), "{bad:?}");
    let inline = "| `peerlink plan [--peering pcx-…] [--jsn]` | … |";
    assert_eq!(problems("README.md", inline).1.len(), 1);
    // Prose may name a command without its arguments; a command line may not.
    let prose = "`peerlink deploy-params` derives them, `peerlink doctor --stack-parameters` compares";
    assert_eq!(problems("README.md", prose), (2, vec![]));
    let fenced = "```sh\npeerlink deploy-params --config a.toml\n```\n";
    assert_eq!(problems("README.md", fenced).1.len(), 1);
    // Inline code may wrap to the next line of its paragraph.
    let wrapped = "One line.\n\nIt is what `peerlink\nschema --jsn` prints, and `peerlink plan`.\n";
    let (count, bad) = problems("README.md", wrapped);
    assert_eq!(count, 2);
    assert_eq!(
        bad,
        vec!["README.md:3: `peerlink schema --jsn`: error: unexpected argument '--jsn' found"]
    );
}

#[test]
fn commands_are_found_where_shells_run_them() {
    let line = r#"sam deploy --stack-name peerlink --parameter-overrides "$(peerlink deploy-params --config a.toml --template accepter)" && peerlink doctor | tee out  # peerlink nothing"#;
    assert_eq!(
        commands_in_shell(line),
        vec![
            vec!["deploy-params", "--config", "a.toml", "--template", "accepter"],
            vec!["doctor"]
        ]
    );
    assert_eq!(
        commands_in_shell("PEERLINK_CONFIG_FILE=x cargo run -p peerlink-cli -- plan --json"),
        vec![vec!["plan", "--json"]]
    );
    let md = "```sh\npeerlink deploy-params \\\n  --config a.toml --template requester\n```\n";
    assert_eq!(
        markdown_commands(md),
        vec![Found {
            line: 2,
            args: ["deploy-params", "--config", "a.toml", "--template", "requester"]
                .map(String::from)
                .to_vec(),
            mention: false,
        }]
    );
    assert!(toml_commands("# peerlink configuration — annotated\n# peerlink creates the request\n").is_empty());
}
