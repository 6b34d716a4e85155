//! Reading exported data and writing scores.
//!
//! - CDNOW files as the `lifetimes` package ships them: `CDNOW_sample.txt` (no header;
//!   original id, id, yyyymmdd, CDs, dollars) and `CDNOW_master.txt` (a header line;
//!   id, yyyymmdd, CDs, dollars), whitespace-separated with CRLF line ends.
//! - Transactions as CSV: `customer_id,timestamp,amount` with a header, any column
//!   order; the timestamp a date (`2024-03-01`) or RFC 3339, whose own calendar date is
//!   used (the shop's day, not UTC's).
//! - Summaries in lifetimes' format: `customer_id,frequency,recency,T,monetary_value`.
//!
//! Errors name the line (header = line 1). Large CSV files are parsed in parallel, one
//! block of whole lines per task.

use std::io::{self, Write};
use std::ops::Range;

use chrono::{DateTime, NaiveDate};
use csv::{ByteRecord, ReaderBuilder};
use rayon::prelude::*;

use crate::error::InputError;
use crate::history::{RfmSummary, Transactions};
use crate::next_order::NextOrder;
use crate::score::CustomerScore;

/// Layouts of a transactions file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionFormat {
    Cdnow,
    Csv,
}

pub fn read_transactions(
    data: &[u8],
    format: TransactionFormat,
) -> Result<Transactions, InputError> {
    let rows = match format {
        TransactionFormat::Cdnow => read_cdnow_rows(data)?,
        TransactionFormat::Csv => read_csv_transaction_rows(data)?,
    };
    if rows.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(Transactions::from_purchases(rows)?)
}

type PurchaseRow = (String, NaiveDate, f64);

fn read_cdnow_rows(data: &[u8]) -> Result<Vec<PurchaseRow>, InputError> {
    let mut rows = Vec::new();
    // 5 columns in the sample (original id, id, date, CDs, dollars), 4 in the master
    // file (id, date, CDs, dollars); the first record decides and the rest must agree.
    let mut columns: Option<usize> = None;
    for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let text = std::str::from_utf8(raw).map_err(|_| InputError::at(line, "not valid UTF-8"))?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let Some(expected) = columns else {
            columns = Some(fields.len());
            if fields[0].parse::<u64>().is_err() {
                // The master file's header line: its column count is the records' too.
                continue;
            }
            rows.push(cdnow_record(line, &fields)?);
            continue;
        };
        if fields.len() != expected {
            return Err(InputError::at(
                line,
                format!(
                    "expected {expected} whitespace-separated columns like the first line, found {}",
                    fields.len()
                ),
            ));
        }
        rows.push(cdnow_record(line, &fields)?);
    }
    Ok(rows)
}

/// One record: the last four columns are id, date, CDs and dollars in both layouts.
fn cdnow_record(line: u64, fields: &[&str]) -> Result<PurchaseRow, InputError> {
    let &[.., id, date, cds, dollars] = fields else {
        return Err(InputError::at(
            line,
            format!(
                "expected 4 or 5 whitespace-separated columns, found {}",
                fields.len()
            ),
        ));
    };
    if fields.len() > 5 {
        return Err(InputError::at(
            line,
            format!(
                "expected 4 or 5 whitespace-separated columns, found {}",
                fields.len()
            ),
        ));
    }
    let date = parse_compact_date(date)
        .ok_or_else(|| InputError::at(line, format!("bad date '{date}' (expected YYYYMMDD)")))?;
    cds.parse::<u32>().map_err(|_| {
        InputError::at(
            line,
            format!("bad CD count '{cds}' (expected a whole number)"),
        )
    })?;
    let amount = parse_amount(dollars).map_err(|problem| InputError::at(line, problem))?;
    Ok((id.to_owned(), date, amount))
}

fn parse_compact_date(text: &str) -> Option<NaiveDate> {
    (text.len() == 8)
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
}

fn parse_amount(text: &str) -> Result<f64, String> {
    let amount: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("bad amount '{text}' (expected a number)"))?;
    if !amount.is_finite() {
        return Err(format!("bad amount '{text}' (expected a finite number)"));
    }
    if amount < 0.0 {
        return Err(format!(
            "negative amount {text}; net refunds into the purchase day they refund"
        ));
    }
    Ok(amount)
}

fn parse_timestamp(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| DateTime::parse_from_rfc3339(text).map(|t| t.date_naive()))
        .map_err(|_| format!("bad timestamp '{text}' (expected YYYY-MM-DD or RFC 3339)"))
}

fn read_csv_transaction_rows(data: &[u8]) -> Result<Vec<PurchaseRow>, InputError> {
    let chunks = parse_csv(
        data,
        &["customer_id", "timestamp", "amount"],
        Vec::new,
        |rows: &mut Vec<PurchaseRow>, fields| {
            let id = field_str(fields[0], "customer_id")?;
            if id.is_empty() {
                return Err("empty customer_id".to_owned());
            }
            let date = parse_timestamp(field_str(fields[1], "timestamp")?)?;
            let amount = parse_amount(field_str(fields[2], "amount")?)?;
            rows.push((id.to_owned(), date, amount));
            Ok(())
        },
    )?;
    Ok(chunks.into_iter().flatten().collect())
}

fn field_str<'a>(field: &'a [u8], column: &str) -> Result<&'a str, String> {
    std::str::from_utf8(field)
        .map(str::trim)
        .map_err(|_| format!("{column} is not valid UTF-8"))
}

/// Customer ids stored end to end in one string: no allocation per customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerIds {
    text: String,
    ends: Vec<usize>,
}

impl CustomerIds {
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    fn append(&mut self, other: CustomerIds) {
        let offset = self.text.len();
        self.text.push_str(&other.text);
        self.ends
            .extend(other.ends.into_iter().map(|end| end + offset));
    }
}

impl<'a> FromIterator<&'a str> for CustomerIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut result = CustomerIds::default();
        ids.into_iter().for_each(|id| result.push(id));
        result
    }
}

/// Summaries with their customer ids, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryTable {
    pub ids: CustomerIds,
    pub summaries: Vec<RfmSummary>,
}

/// Reads a summary CSV in lifetimes' format.
pub fn read_summaries(data: &[u8]) -> Result<SummaryTable, InputError> {
    let columns = ["customer_id", "frequency", "recency", "T", "monetary_value"];
    let chunks = parse_csv(
        data,
        &columns,
        SummaryTable::default,
        |table: &mut SummaryTable, fields| {
            let number = |k: usize| -> Result<f64, String> {
                parse_number(fields[k]).ok_or_else(|| {
                    let text = String::from_utf8_lossy(fields[k].trim_ascii());
                    format!("{} '{text}' is not a number", columns[k])
                })
            };
            let summary = RfmSummary::new(number(1)?, number(2)?, number(3)?, number(4)?);
            summary.validate()?;
            table.ids.push(field_str(fields[0], "customer_id")?);
            table.summaries.push(summary);
            Ok(())
        },
    )?;
    let mut table = SummaryTable::default();
    for chunk in chunks {
        table.ids.append(chunk.ids);
        table.summaries.extend(chunk.summaries);
    }
    if table.summaries.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(table)
}

/// A decimal number, surrounding ASCII spaces ignored. Plain decimals with at most 15
/// significant digits take the exact fast path (an integer mantissa and one correctly
/// rounded division by a power of ten: the result `str::parse` gives); anything else
/// goes to `str::parse`.
fn parse_number(field: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let field = field.trim_ascii();
    let general = || std::str::from_utf8(field).ok()?.parse().ok();
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0;
    let mut seen_digit = false;
    let mut decimals: Option<usize> = None;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                significant += usize::from(mantissa != 0);
                seen_digit = true;
                if let Some(d) = decimals.as_mut() {
                    *d += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            _ => return general(),
        }
        if significant > 15 {
            return general();
        }
    }
    let decimals = decimals.unwrap_or(0);
    if !seen_digit || decimals >= POWERS.len() {
        return general();
    }
    let value = mantissa as f64 / POWERS[decimals];
    Some(if negative { -value } else { value })
}

/// Bytes per parallel parse task.
const PARSE_BLOCK: usize = 1 << 20;

/// Most columns a reader asks for.
const MAX_COLUMNS: usize = 8;

/// Parses CSV `data` whose header names `columns` (any order; others ignored), calling
/// `push` with each record's fields in the order of `columns`. Records are split into
/// blocks of whole lines parsed in parallel, each into its own accumulator, returned in
/// file order. A quoted field could hide a line break, so files with quotes are parsed
/// as one block.
fn parse_csv<A, N, P>(data: &[u8], columns: &[&str], new: N, push: P) -> Result<Vec<A>, InputError>
where
    A: Send,
    N: Fn() -> A + Sync,
    P: Fn(&mut A, &[&[u8]]) -> Result<(), String> + Sync,
{
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    let header_end = data
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| i + 1);
    debug_assert!(columns.len() <= MAX_COLUMNS);
    let positions = header_positions(&data[..header_end], columns)?;
    let body = &data[header_end..];
    let quoted = body.contains(&b'"');
    let blocks = if quoted {
        std::iter::once(0..body.len()).collect()
    } else {
        line_blocks(body, PARSE_BLOCK)
    };
    let results: Vec<Result<A, (u64, String)>> = blocks
        .par_iter()
        .map(|range| {
            let mut accumulator = new();
            let block = &body[range.clone()];
            let columns = positions.len();
            if quoted {
                let mut reader = ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(block);
                let mut record = ByteRecord::new();
                loop {
                    let line = reader.position().line();
                    match reader.read_byte_record(&mut record) {
                        Ok(false) => break,
                        Ok(true) => {}
                        Err(error) => return Err((line, format!("malformed CSV: {error}"))),
                    }
                    let line = record.position().map_or(line, csv::Position::line);
                    let fields = select(line, &positions, record.len(), |i| record.get(i))?;
                    push(&mut accumulator, &fields[..columns])
                        .map_err(|problem| (line, problem))?;
                }
            } else {
                // Without quotes a comma always separates and a newline always ends a
                // record, so plain splitting reads the same records, several times faster.
                let mut split: Vec<&[u8]> = Vec::new();
                for (index, line) in block.split(|&b| b == b'\n').enumerate() {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    split.clear();
                    split.extend(line.split(|&b| b == b','));
                    let line = index as u64 + 1;
                    let fields = select(line, &positions, split.len(), |i| split.get(i).copied())?;
                    push(&mut accumulator, &fields[..columns])
                        .map_err(|problem| (line, problem))?;
                }
            }
            Ok(accumulator)
        })
        .collect();
    let mut chunks = Vec::with_capacity(results.len());
    for (block, result) in blocks.iter().zip(results) {
        match result {
            Ok(chunk) => chunks.push(chunk),
            Err((local_line, problem)) => {
                // Only on error: the header, the lines of earlier blocks, then this one's.
                let before = body[..block.start].iter().filter(|&&b| b == b'\n').count() as u64;
                return Err(InputError::at(1 + before + local_line, problem));
            }
        }
    }
    Ok(chunks)
}

/// The fields at `positions` of a record with `len` fields.
fn select<'a>(
    line: u64,
    positions: &[usize],
    len: usize,
    get: impl Fn(usize) -> Option<&'a [u8]>,
) -> Result<[&'a [u8]; MAX_COLUMNS], (u64, String)> {
    let mut fields: [&[u8]; MAX_COLUMNS] = [&[]; MAX_COLUMNS];
    for (field, &position) in fields.iter_mut().zip(positions) {
        *field = get(position).ok_or_else(|| {
            (
                line,
                format!("expected at least {} fields, found {len}", position + 1),
            )
        })?;
    }
    Ok(fields)
}

fn header_positions(header: &[u8], columns: &[&str]) -> Result<Vec<usize>, InputError> {
    let mut reader = ReaderBuilder::new().has_headers(false).from_reader(header);
    let mut record = ByteRecord::new();
    let found = reader
        .read_byte_record(&mut record)
        .map_err(|e| InputError::at(1, format!("malformed header: {e}")))?;
    let names: Vec<String> = if found {
        record
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    columns
        .iter()
        .map(|column| {
            names.iter().position(|name| name == column).ok_or_else(|| {
                InputError::at(
                    1,
                    format!(
                        "missing column '{column}' (the header has: {})",
                        names.join(",")
                    ),
                )
            })
        })
        .collect()
}

/// Splits `body` into ranges of about `size` bytes that end at line ends.
fn line_blocks(body: &[u8], size: usize) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let tentative = (start + size).min(body.len());
        let end = body[tentative..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| tentative + i + 1);
        blocks.push(start..end);
        start = end;
    }
    blocks
}

/// Rows formatted per parallel task, and per write.
const WRITE_BLOCK: usize = 1 << 14;
const WRITE_BATCH: usize = 1 << 18;

pub const SCORE_HEADER: &str = "customer_id,p_alive,expected_purchases,churn_risk,clv,segment\n";

/// [`SCORE_HEADER`] with each customer's next order, when scored from their history.
pub const SCORE_NEXT_ORDER_HEADER: &str = "customer_id,p_alive,expected_purchases,churn_risk,clv,segment,\
     next_order_on,p_order_in_horizon\n";

/// Writes one CSV row per customer. Formatting runs in parallel, a bounded batch at a
/// time so memory stays flat however many customers there are.
pub fn write_scores<W: Write>(
    out: W,
    ids: &CustomerIds,
    scores: &[CustomerScore],
) -> io::Result<()> {
    write_rows(out, SCORE_HEADER, ids, scores, |_, _| {})
}

/// [`write_scores`] with two more columns: the day of each customer's next order (empty
/// when none is forecast, [`NextOrder::date`] from `cutoff`) and the probability of an
/// order within the horizon (empty when there is no forecast).
pub fn write_scores_with_next_orders<W: Write>(
    out: W,
    ids: &CustomerIds,
    scores: &[CustomerScore],
    next_orders: &[Option<NextOrder>],
    cutoff: NaiveDate,
) -> io::Result<()> {
    write_rows(out, SCORE_NEXT_ORDER_HEADER, ids, scores, |buffer, i| {
        let next = next_orders.get(i).and_then(Option::as_ref);
        buffer.push(b',');
        if let Some(date) = next.and_then(|n| n.date(cutoff)) {
            let _ = write!(buffer, "{date}");
        }
        buffer.push(b',');
        if let Some(n) = next {
            push_fixed(buffer, n.p_order_in_horizon);
        }
    })
}

fn write_rows<W: Write>(
    mut out: W,
    header: &str,
    ids: &CustomerIds,
    scores: &[CustomerScore],
    more: impl Fn(&mut Vec<u8>, usize) + Sync,
) -> io::Result<()> {
    out.write_all(header.as_bytes())?;
    let rows: Vec<usize> = (0..scores.len().min(ids.len())).collect();
    for batch in rows.chunks(WRITE_BATCH) {
        let buffers: Vec<Vec<u8>> = batch
            .par_chunks(WRITE_BLOCK)
            .map(|block| {
                let mut buffer = Vec::with_capacity(block.len() * 64);
                for &i in block {
                    let score = &scores[i];
                    push_csv_field(&mut buffer, ids.get(i).unwrap_or_default());
                    for value in [
                        score.p_alive,
                        score.expected_purchases,
                        score.churn_risk,
                        score.clv,
                    ] {
                        buffer.push(b',');
                        push_fixed(&mut buffer, value);
                    }
                    buffer.push(b',');
                    buffer.extend_from_slice(score.segment.as_str().as_bytes());
                    more(&mut buffer, i);
                    buffer.push(b'\n');
                }
                buffer
            })
            .collect();
        for buffer in buffers {
            out.write_all(&buffer)?;
        }
    }
    out.flush()
}

fn push_csv_field(buffer: &mut Vec<u8>, field: &str) {
    if field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        buffer.push(b'"');
        buffer.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        buffer.push(b'"');
    } else {
        buffer.extend_from_slice(field.as_bytes());
    }
}

/// Six decimals, through integers: float formatting would dominate the write time.
fn push_fixed(buffer: &mut Vec<u8>, value: f64) {
    const SCALE: f64 = 1e6;
    // Adding a half and truncating rounds half away from zero.
    let scaled = value.abs() * SCALE + 0.5;
    if !scaled.is_finite() || scaled >= 1e18 {
        // Non-finite or beyond the integer path: rare enough for the general formatter.
        let _ = write!(buffer, "{value:.6}");
        return;
    }
    let scaled = scaled as u64;
    if value < 0.0 && scaled != 0 {
        buffer.push(b'-');
    }
    let mut digits = itoa::Buffer::new();
    buffer.extend_from_slice(digits.format(scaled / 1_000_000).as_bytes());
    buffer.push(b'.');
    // The fraction with its leading zeros: format 1xxxxxx and drop the 1.
    buffer.extend_from_slice(&digits.format(scaled % 1_000_000 + 1_000_000).as_bytes()[1..]);
}

#[cfg(test)]
mod tests;
