//! `peerlink check-config`: every problem of the document at once, each as
//! `FILE:LINE: error|warning: message` (the form editors and terminals link
//! to), then a summary; on a valid document, its entries.

use peerlink::config::{Config, Problem, Severity};

/// What `check-config` prints for the document `text` read from `origin`,
/// and whether it is valid (no error; warnings allowed). With `region`, the
/// entries are also checked against it (see `Config::check_in`).
pub fn check_config(origin: &str, text: &str, region: Option<&str>) -> (String, bool) {
    let (config, problems) = Config::check_in(text, region);
    let mut out = String::new();
    for p in &problems {
        out.push_str(&line(origin, p));
        out.push('\n');
    }
    let count = |severity: Severity| problems.iter().filter(|p| p.severity == severity).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match config {
        Some(config) if errors == 0 => {
            out.push_str(&format!(
                "{origin}: valid, {} peer entr{}{}\n",
                config.peers.len(),
                if config.peers.len() == 1 { "y" } else { "ies" },
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            ));
            for e in &config.peers {
                let vpc = e.peer_vpc.as_ref().map_or("any VPC".to_string(), |v| v.to_string());
                let cidrs: Vec<String> = e.allowed_cidrs.iter().map(ToString::to_string).collect();
                out.push_str(&format!(
                    "  {:<20} account {} {} -> local {}  allowed {}  {}\n",
                    e.name,
                    e.peer_account,
                    vpc,
                    e.local_vpc,
                    cidrs.join(","),
                    if e.request {
                        "requests"
                    } else if e.auto_accept {
                        "auto-accept"
                    } else {
                        "manual accept"
                    }
                ));
            }
            (out, true)
        }
        _ => {
            out.push_str(&format!(
                "{origin}: invalid, {}{}\n",
                plural(errors, "error"),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            ));
            (out, false)
        }
    }
}

fn line(origin: &str, p: &Problem) -> String {
    let severity = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match p.line {
        Some(l) => format!("{origin}:{l}: {severity}: {}", p.message),
        None => format!("{origin}: {severity}: {}", p.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_printed_with_its_line() {
        let doc = "[settings]\nwrite_concurrency = 0\n\n[[peer]]\nname = \"a\"\npeer_account = \"1\"\nallowed_cidrs = [\"0.0.0.0/0\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\n\n[[peer]]\nname = \"b\"\npeer_account = \"111111111111\"\nallowed_cidrs = [\"0.0.0.0/0\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\nauto_accept = \"yes\"\n";
        let (out, ok) = check_config("x.toml", doc, None);
        assert!(!ok, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("x.toml:2: error: settings.write_concurrency = 0"),
            "{out}"
        );
        assert!(
            lines[1].starts_with("x.toml:6: error: peer[0] (name \"a\").peer_account: invalid account id"),
            "{out}"
        );
        assert!(
            lines[2].starts_with("x.toml:15: error: peer[1] (name \"b\").auto_accept: invalid type"),
            "{out}"
        );
        assert_eq!(lines[3], "x.toml: invalid, 3 errors", "{out}");
        assert_eq!(lines.len(), 4, "{out}");
    }

    #[test]
    fn warnings_do_not_fail() {
        let doc = "[[peer]]\nname = \"a\"\npeer_account = \"111111111111\"\nallowed_cidrs = [\"10.0.0.0/16\", \"::/0\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\n";
        let (out, ok) = check_config("x.toml", doc, None);
        assert!(ok, "{out}");
        assert!(
            out.starts_with("x.toml:4: warning: peer[0] (name \"a\"): allowed_cidrs contains ::/0, a catch-all"),
            "{out}"
        );
        assert!(out.contains("x.toml: valid, 1 peer entry, 1 warning\n"), "{out}");
    }
}
