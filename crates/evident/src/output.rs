//! Table and JSON output.

use std::io::Write;

use serde::Serialize;

/// `--output`: a human table or the API's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Table,
    Json,
}

/// Prints the API response as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Aligns cells into columns separated by two spaces. A cell may hold several lines; the
/// row then spans as many lines as its tallest cell. Trailing spaces are trimmed.
pub fn table(header: &[&str], rows: &[Vec<String>], blank_between: bool) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            for line in cell.lines() {
                widths[i] = widths[i].max(line.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut push_line = |cells: &[&str]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] + 2 - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_line(header);
    for (r, row) in rows.iter().enumerate() {
        let lines: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
        let height = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for h in 0..height {
            let cells: Vec<&str> = (0..cols)
                .map(|i| lines.get(i).and_then(|l| l.get(h)).copied().unwrap_or(""))
                .collect();
            push_line(&cells);
        }
        if blank_between && r + 1 < rows.len() {
            push_line(&[]);
        }
    }
    out
}

/// `label:` padded so values line up, as in `artifact get`.
pub fn field(label: &str, width: usize, value: &str) -> String {
    format!("{:<width$}{value}\n", format!("{label}:"), width = width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_the_tutorial() {
        let t = table(
            &["NAME", "DESCRIPTION", "VISIBILITY"],
            &[
                vec![
                    "creator".into(),
                    "UX for Group/Kata creation".into(),
                    "public".into(),
                ],
                vec![
                    "exercises-start-points".into(),
                    "Exercises choices".into(),
                    "public".into(),
                ],
            ],
            false,
        );
        assert_eq!(
            t,
            "NAME                    DESCRIPTION                 VISIBILITY\n\
             creator                 UX for Group/Kata creation  public\n\
             exercises-start-points  Exercises choices           public\n"
        );
    }

    #[test]
    fn multi_line_cells_span_rows() {
        let t = table(&["A", "B"], &[vec!["1".into(), "x\ny".into()]], false);
        assert_eq!(t, "A  B\n1  x\n   y\n");
    }
}
