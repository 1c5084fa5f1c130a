//! `-f table|json|value` output, as the `openstack` CLI prints it.

use clap::ValueEnum;
use serde_json::Value;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Value,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A bordered table like OSC's.
fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = rule.clone();
    out.push_str(&line(headers));
    out.push_str(&rule);
    for r in rows {
        out.push_str(&line(r));
    }
    out.push_str(&rule);
    out
}

/// Prints a list of objects with the given columns: (header, key).
pub fn print_list(items: &[Value], columns: &[(&str, &str)], f: Format) {
    match f {
        Format::Json => {
            let rows: Vec<Value> = items
                .iter()
                .map(|i| {
                    Value::Object(
                        columns
                            .iter()
                            .map(|(h, k)| (h.to_string(), i[*k].clone()))
                            .collect(),
                    )
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            );
        }
        Format::Value => {
            for i in items {
                println!(
                    "{}",
                    columns
                        .iter()
                        .map(|(_, k)| cell(&i[*k]))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        Format::Table => {
            let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| columns.iter().map(|(_, k)| cell(&i[*k])).collect())
                .collect();
            print!("{}", table(&headers, &rows));
        }
    }
}

/// Prints one object as Field/Value pairs (keys sorted, as OSC does).
pub fn print_object(obj: &Value, f: Format) {
    let mut fields: Vec<(&String, &Value)> = obj
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    match f {
        Format::Json => println!("{}", serde_json::to_string_pretty(obj).unwrap_or_default()),
        Format::Value => {
            for (_, v) in fields {
                println!("{}", cell(v));
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = fields
                .iter()
                .map(|(k, v)| vec![k.to_string(), cell(v)])
                .collect();
            print!("{}", table(&["Field".into(), "Value".into()], &rows));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned() {
        let t = table(
            &["Name".into(), "State".into()],
            &[vec!["CloudOne".into(), "up".into()]],
        );
        assert_eq!(t, "+----------+-------+\n| Name     | State |\n+----------+-------+\n| CloudOne | up    |\n+----------+-------+\n");
    }
}
