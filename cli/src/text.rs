//! Plain-text tables for terminals (the CLI and the demo).

/// Aligns `rows` under `headers`; the last column is not padded (it holds the
/// long reasons).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let last = headers.len().saturating_sub(1);
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// `plan`'s section on exposure: a block per managed peering end (what it
/// opens to the peer, its routes per table), each line as the library says it.
pub fn exposure(views: &[peerlink::exposure::Exposure]) -> String {
    let mut out = String::from("Open to whom, and routes (in place unless marked):\n");
    for v in views {
        out.push_str(&v.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let t = super::table(&["A", "BB", "WHY"], &[vec!["xxx".into(), "y".into(), "because".into()]]);
        assert_eq!(t, "A    BB  WHY\nxxx  y   because");
    }
}
