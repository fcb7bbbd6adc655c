//! `fluoro check`: validate segment documents offline and show the rows Fluoro would store.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

pub(crate) fn check(files: &[PathBuf], print_rows: bool) -> anyhow::Result<ExitCode> {
    let mut invalid = 0usize;
    let mut valid = 0usize;
    for file in files {
        for (line_number, line) in read_documents(file)?.into_iter().enumerate() {
            let place = format!("{}:{}", file.display(), line_number + 1);
            match fluoro_proto::parse_document(line.as_bytes()) {
                Ok(document) => {
                    valid += 1;
                    report_document(&place, &document, print_rows)?;
                }
                Err(error) => {
                    invalid += 1;
                    println!("{place}: invalid: {error}");
                }
            }
        }
    }
    println!("{valid} valid, {invalid} invalid");
    Ok(if invalid == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn read_documents(file: &PathBuf) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        Box::new(BufReader::new(opened))
    };
    let mut documents = Vec::new();
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        if !line.trim().is_empty() {
            documents.push(line);
        }
    }
    Ok(documents)
}

fn report_document(place: &str, document: &fluoro_proto::Document, print_rows: bool) -> anyhow::Result<()> {
    let rows = fluoro_proto::rows_from_document(document);
    if print_rows {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
        return Ok(());
    }
    let first = document.entities().first();
    let trace = first.and_then(|entity| entity.trace_id).map(|id| id.to_string()).unwrap_or_default();
    let name = first.map(|entity| entity.name.as_str()).unwrap_or_default();
    println!("{place}: ok: trace {trace} {name:?}, {} span rows", rows.len());
    Ok(())
}
