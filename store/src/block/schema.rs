//! The block schema: [`StoredSpan`]s ⇄ polars frames, one column per field (table in the
//! parent module's doc). The same conversion serves blocks on disk and recent data in memory, so
//! the analyzer sees one schema whichever answers.

use std::borrow::Borrow;

use fluoro_proto::{
    AnnotationScalar, AwsSummary, ByteString, ExceptionSummary, HttpSummary, SegmentId, SpanKind, SpanRow, TraceId,
};
use polars::prelude::*;
use polars_arrow::array::{ListArray, MutableBinaryViewArray};
use polars_arrow::offset::{Offsets, OffsetsBuffer};

use super::dictionary_pages::Dictionary;
use crate::columns::*;
use crate::error::{polars_error, Result, StoreError};
use crate::record::StoredSpan;

/// Fields of the `exceptions` list elements.
const EXCEPTION_NAME: &str = "name";
const EXCEPTION_MESSAGE: &str = "message";
const EXCEPTION_REMOTE: &str = "remote";
/// Fields of the `annotations` list elements: exactly one of the three values is set.
const ANNOTATION_KEY: &str = "key";
const ANNOTATION_STRING: &str = "string";
const ANNOTATION_NUMBER: &str = "number";
const ANNOTATION_BOOL: &str = "bool";

/// Reads one text field of a stored span.
type TextField = fn(&StoredSpan) -> Option<&str>;
/// Reads one flag of a stored span.
type FlagField = fn(&StoredSpan) -> bool;
/// Reads one always-present integer of a stored span.
type U64Field = fn(&StoredSpan) -> u64;

const SEGMENT: &str = "segment";
const SUBSEGMENT: &str = "subsegment";

const U64_FIELDS: [(&str, U64Field); 4] = [
    (TRACE_HI, |span| span.row.trace_id.halves().0),
    (TRACE_LO, |span| span.row.trace_id.halves().1),
    (ID, |span| span.row.id.as_u64()),
    (SEQUENCE, |span| span.sequence),
];

/// The flag columns, in the order `FrameColumns::bools` also holds them to read them back.
const FLAG_FIELDS: [(&str, FlagField); 6] = [
    (IN_PROGRESS, |span| span.row.in_progress),
    (ERROR, |span| span.row.error),
    (FAULT, |span| span.row.fault),
    (THROTTLE, |span| span.row.throttle),
    (REMOTE, |span| span.row.remote),
    (TRACED, |span| span.row.traced),
];

/// The string columns, in the order `FrameColumns::strings` also holds them to read them back.
const TEXT_FIELDS: [(&str, TextField); 21] = [
    (KIND, |span| Some(kind_name(span.row.kind))),
    (SERVICE, |span| span.row.service.as_deref()),
    (NAME, |span| Some(span.row.name.as_str())),
    (ORIGIN, |span| span.row.origin.as_deref()),
    (NAMESPACE, |span| span.row.namespace.as_deref()),
    (HTTP_METHOD, |span| span.row.http.method.as_deref()),
    (HTTP_URL, |span| span.row.http.url.as_deref()),
    (HTTP_CLIENT_IP, |span| span.row.http.client_ip.as_deref()),
    (HTTP_USER_AGENT, |span| span.row.http.user_agent.as_deref()),
    (USER, |span| span.row.user.as_deref()),
    (AWS_ACCOUNT_ID, |span| span.row.aws.account_id.as_deref()),
    (AWS_OPERATION, |span| span.row.aws.operation.as_deref()),
    (AWS_REGION, |span| span.row.aws.region.as_deref()),
    (AWS_TABLE, |span| span.row.aws.table.as_deref()),
    (AWS_QUEUE, |span| span.row.aws.queue.as_deref()),
    (AWS_RESOURCE, |span| span.row.aws.resource.as_deref()),
    (AWS_RESOURCE_ARN, |span| span.row.aws.resource_arn.as_deref()),
    (AWS_INSTANCE_ID, |span| span.row.aws.instance_id.as_deref()),
    (AWS_AVAILABILITY_ZONE, |span| span.row.aws.availability_zone.as_deref()),
    (SQL_URL, |span| span.row.sql_url.as_deref()),
    (DOCUMENT, |span| span.document.as_deref()),
];

/// Where the document is in [`TEXT_FIELDS`]: last, the one text column without a dictionary.
const DOCUMENT_FIELD: usize = TEXT_FIELDS.len() - 1;

/// Builds a frame with the block schema, rows in the given order.
pub(crate) fn spans_to_frame<S: Borrow<StoredSpan>>(spans: &[S]) -> Result<DataFrame> {
    frame_of(spans, true)
}

/// [`spans_to_frame`] with every text column null: for the block writer, which writes those
/// columns' pages from the spans themselves ([`SpanTexts`]).
pub(super) fn spans_to_block_frame(spans: &[&StoredSpan]) -> Result<DataFrame> {
    frame_of(spans, false)
}

/// The text columns of a block's rows, read from the spans when the block writer encodes them:
/// copying every value into a string array only for the writer to read it again cost ~4 % of
/// the server's CPU under UDP load. Their dictionaries are built in one pass over the spans, as
/// the frame's other columns are: a pass per column would fetch every span (~0.6 KB apart in
/// recent data) from memory twenty times.
pub(super) struct SpanTexts<'a> {
    spans: &'a [&'a StoredSpan],
    /// Each text column's dictionary but the document's, in [`TEXT_FIELDS`] order; `None` for a
    /// column with too many distinct values, and once taken.
    dictionaries: Vec<Option<Dictionary<'a>>>,
}

impl<'a> SpanTexts<'a> {
    pub(super) fn new(spans: &'a [&'a StoredSpan]) -> Self {
        let fields = &TEXT_FIELDS[..DOCUMENT_FIELD];
        let mut dictionaries: Vec<Option<Dictionary<'a>>> =
            fields.iter().map(|_| Some(Dictionary::with_capacity(spans.len()))).collect();
        for span in spans {
            for (dictionary, (_, field)) in dictionaries.iter_mut().zip(fields) {
                if dictionary.as_mut().is_some_and(|building| !building.push(field(span))) {
                    *dictionary = None;
                }
            }
        }
        SpanTexts { spans, dictionaries }
    }

    /// The column's value in each row, or `None` when it is not a text column.
    pub(super) fn column(&self, name: &str) -> Option<impl Iterator<Item = Option<&'a str>> + use<'a>> {
        let (_, field) = TEXT_FIELDS.iter().find(|(text, _)| *text == name)?;
        let (field, spans) = (*field, self.spans);
        Some(spans.iter().map(move |span| field(span)))
    }

    /// The column's dictionary, once: `None` for the document, for a column with too many
    /// distinct values, and for a name that is no text column.
    pub(super) fn take_dictionary(&mut self, name: &str) -> Option<Dictionary<'a>> {
        let at = TEXT_FIELDS.iter().position(|(text, _)| *text == name)?;
        self.dictionaries.get_mut(at)?.take()
    }
}

/// The flat columns fill in one pass over the spans, each span read once for all of them: a
/// pass per column fetched every span (~0.6 KB apart in recent data) from memory forty times.
/// Without `texts`, the text columns are left null.
fn frame_of<S: Borrow<StoredSpan>>(spans: &[S], texts: bool) -> Result<DataFrame> {
    let spans: Vec<&StoredSpan> = spans.iter().map(Borrow::borrow).collect();
    let text_fields = if texts { &TEXT_FIELDS[..] } else { &[] };
    let rows = spans.len();
    let mut u64s: [Vec<u64>; 4] = std::array::from_fn(|_| Vec::with_capacity(rows));
    let mut flags: [Vec<bool>; 6] = std::array::from_fn(|_| Vec::with_capacity(rows));
    let mut text_columns: Vec<MutableBinaryViewArray<str>> =
        text_fields.iter().map(|_| MutableBinaryViewArray::with_capacity(rows)).collect();
    let mut parent_id: Vec<Option<u64>> = Vec::with_capacity(rows);
    let mut start_us: Vec<i64> = Vec::with_capacity(rows);
    let mut end_us: Vec<Option<i64>> = Vec::with_capacity(rows);
    let mut http_status: Vec<Option<u32>> = Vec::with_capacity(rows);
    for span in &spans {
        for (column, (_, field)) in u64s.iter_mut().zip(U64_FIELDS) {
            column.push(field(span));
        }
        for (column, (_, field)) in flags.iter_mut().zip(FLAG_FIELDS) {
            column.push(field(span));
        }
        for (column, (_, field)) in text_columns.iter_mut().zip(text_fields) {
            column.push(field(span));
        }
        let row = &span.row;
        parent_id.push(row.parent_id.map(SegmentId::as_u64));
        start_us.push(row.start_us);
        end_us.push(row.end_us);
        http_status.push(row.http.status.map(u32::from));
    }
    let span_rows: Vec<&SpanRow> = spans.iter().map(|span| &span.row).collect();
    let mut columns = vec![
        Column::new(PARENT_ID.into(), parent_id),
        Column::new(START_US.into(), start_us),
        Column::new(END_US.into(), end_us),
        Column::new(HTTP_STATUS.into(), http_status),
        exceptions_column(&span_rows)?,
        annotations_column(&span_rows)?,
    ];
    columns.extend(U64_FIELDS.iter().zip(u64s).map(|((name, _), values)| Column::new((*name).into(), values)));
    columns.extend(FLAG_FIELDS.iter().zip(flags).map(|((name, _), values)| Column::new((*name).into(), values)));
    let mut text_columns = text_columns.into_iter();
    columns.extend(TEXT_FIELDS.iter().map(|(name, _)| match text_columns.next() {
        Some(values) => StringChunked::with_chunk((*name).into(), values.freeze()).into_column(),
        None => StringChunked::full_null((*name).into(), rows).into_column(),
    }));
    let frame = DataFrame::new(rows, columns).map_err(polars_error)?;
    frame.select(block_columns()).map_err(polars_error)
}

/// Every column of a block, in schema order: [`SPAN_COLUMNS`], with the document before the
/// arrival sequence that ends them.
fn block_columns() -> impl Iterator<Item = &'static str> {
    SPAN_COLUMNS.iter().copied().filter(|name| *name != SEQUENCE).chain([DOCUMENT, SEQUENCE])
}

/// Reads every row of a frame with the block schema back into spans.
pub(crate) fn frame_to_spans(frame: &DataFrame) -> Result<Vec<StoredSpan>> {
    let mut frame = frame.clone();
    frame.rechunk_mut();
    let columns = FrameColumns::new(&frame)?;
    (0..frame.height()).map(|index| columns.span(index)).collect()
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Segment => SEGMENT,
        SpanKind::Subsegment => SUBSEGMENT,
    }
}

/// `list<struct{name, message, remote}>`; a span without exceptions has an empty list.
fn exceptions_column(rows: &[&SpanRow]) -> Result<Column> {
    let all: Vec<&ExceptionSummary> = rows.iter().flat_map(|row| row.exceptions.iter()).collect();
    let fields = [
        Series::new(EXCEPTION_NAME.into(), all.iter().map(|e| e.name.as_deref()).collect::<Vec<_>>()),
        Series::new(EXCEPTION_MESSAGE.into(), all.iter().map(|e| e.message.as_deref()).collect::<Vec<_>>()),
        Series::new(EXCEPTION_REMOTE.into(), all.iter().map(|e| e.remote).collect::<Vec<bool>>()),
    ];
    list_column(EXCEPTIONS, rows.iter().map(|row| row.exceptions.len()), all.len(), &fields)
}

/// `list<struct{key, string, number, bool}>`, sorted by key as in [`SpanRow`]: columnar so that
/// a filter on one key reads only the `key` and value leaves, not JSON.
fn annotations_column(rows: &[&SpanRow]) -> Result<Column> {
    let all: Vec<&(String, AnnotationScalar)> = rows.iter().flat_map(|row| row.annotations.iter()).collect();
    let number = |value: &AnnotationScalar| match value {
        AnnotationScalar::Number(number) => Some(*number),
        _ => None,
    };
    let flag = |value: &AnnotationScalar| match value {
        AnnotationScalar::Bool(flag) => Some(*flag),
        _ => None,
    };
    let fields = [
        Series::new(ANNOTATION_KEY.into(), all.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>()),
        Series::new(ANNOTATION_STRING.into(), all.iter().map(|(_, v)| annotation_string(v)).collect::<Vec<_>>()),
        Series::new(ANNOTATION_NUMBER.into(), all.iter().map(|(_, v)| number(v)).collect::<Vec<_>>()),
        Series::new(ANNOTATION_BOOL.into(), all.iter().map(|(_, v)| flag(v)).collect::<Vec<_>>()),
    ];
    list_column(ANNOTATIONS, rows.iter().map(|row| row.annotations.len()), all.len(), &fields)
}

/// Borrowed: the column copies the text once, into its own buffer.
fn annotation_string(value: &AnnotationScalar) -> Option<&str> {
    match value {
        AnnotationScalar::String(text) => Some(text),
        _ => None,
    }
}

/// A list column from the flattened elements and each row's length, built from offsets in
/// O(rows) rather than one small series per row.
fn list_column(name: &str, lengths: impl Iterator<Item = usize>, total: usize, fields: &[Series]) -> Result<Column> {
    let inner = StructChunked::from_series(name.into(), total, fields.iter()).map_err(polars_error)?;
    let values = inner.into_series().rechunk().to_arrow(0, CompatLevel::newest());
    let offsets = OffsetsBuffer::<i64>::from(Offsets::<i64>::try_from_lengths(lengths).map_err(polars_error)?);
    let dtype = ListArray::<i64>::default_datatype(values.dtype().clone());
    let array = ListArray::<i64>::new(dtype, offsets, values, None);
    let series = Series::from_arrow(name.into(), array.boxed()).map_err(polars_error)?;
    Ok(series.into_column())
}

/// Typed views of one rechunked frame, read row by row.
struct FrameColumns<'a> {
    u64s: [&'a UInt64Chunked; 5],
    strings: Vec<&'a StringChunked>,
    bools: Vec<&'a BooleanChunked>,
    start_us: &'a Int64Chunked,
    end_us: &'a Int64Chunked,
    http_status: &'a UInt32Chunked,
    exceptions: ListColumn,
    annotations: ListColumn,
}

impl<'a> FrameColumns<'a> {
    fn new(frame: &'a DataFrame) -> Result<Self> {
        let strings = TEXT_FIELDS
            .iter()
            .map(|(name, _)| frame.column(name).and_then(|c| c.str()).map_err(polars_error))
            .collect::<Result<Vec<_>>>()?;
        let bools = FLAG_FIELDS
            .iter()
            .map(|(name, _)| frame.column(name).and_then(|c| c.bool()).map_err(polars_error))
            .collect::<Result<Vec<_>>>()?;
        Ok(FrameColumns {
            u64s: [
                u64_column(frame, TRACE_HI)?,
                u64_column(frame, TRACE_LO)?,
                u64_column(frame, ID)?,
                u64_column(frame, PARENT_ID)?,
                u64_column(frame, SEQUENCE)?,
            ],
            strings,
            bools,
            start_us: frame.column(START_US).and_then(|c| c.i64()).map_err(polars_error)?,
            end_us: frame.column(END_US).and_then(|c| c.i64()).map_err(polars_error)?,
            http_status: frame.column(HTTP_STATUS).and_then(|c| c.u32()).map_err(polars_error)?,
            exceptions: ListColumn::new(frame, EXCEPTIONS)?,
            annotations: ListColumn::new(frame, ANNOTATIONS)?,
        })
    }

    /// A `String`, or a `CompactString` for the short texts a row holds inline.
    fn string<T: for<'s> From<&'s str>>(&self, column: usize, index: usize) -> Option<T> {
        self.strings[column].get(index).map(T::from)
    }

    fn flag(&self, column: usize, index: usize) -> bool {
        self.bools[column].get(index).unwrap_or(false)
    }

    fn span(&self, index: usize) -> Result<StoredSpan> {
        let missing = |column: &str| StoreError::Block(format!("row {index}: column {column} is null"));
        let [trace_hi, trace_lo, id, parent_id, sequence] = self.u64s;
        let kind = match self.strings[0].get(index) {
            Some(SEGMENT) => SpanKind::Segment,
            Some(SUBSEGMENT) => SpanKind::Subsegment,
            other => return Err(StoreError::Block(format!("row {index}: unknown kind {other:?}"))),
        };
        let row = SpanRow {
            trace_id: TraceId::from_halves(
                trace_hi.get(index).ok_or_else(|| missing(TRACE_HI))?,
                trace_lo.get(index).ok_or_else(|| missing(TRACE_LO))?,
            ),
            id: SegmentId::new(id.get(index).ok_or_else(|| missing(ID))?),
            parent_id: parent_id.get(index).map(SegmentId::new),
            kind,
            service: self.string(1, index),
            name: self.string(2, index).ok_or_else(|| missing(NAME))?,
            origin: self.string(3, index),
            namespace: self.string(4, index),
            start_us: self.start_us.get(index).ok_or_else(|| missing(START_US))?,
            end_us: self.end_us.get(index),
            in_progress: self.flag(0, index),
            http: HttpSummary {
                method: self.string(5, index),
                url: self.string(6, index),
                status: self.http_status.get(index).and_then(|status| u16::try_from(status).ok()),
                client_ip: self.string(7, index),
                user_agent: self.string(8, index),
            },
            error: self.flag(1, index),
            fault: self.flag(2, index),
            throttle: self.flag(3, index),
            exceptions: self.exceptions.exceptions(index),
            annotations: self.annotations.annotations(index),
            user: self.string(9, index),
            aws: AwsSummary {
                account_id: self.string(10, index),
                operation: self.string(11, index),
                region: self.string(12, index),
                table: self.string(13, index),
                queue: self.string(14, index),
                resource: self.string(15, index),
                resource_arn: self.string(16, index),
                instance_id: self.string(17, index),
                availability_zone: self.string(18, index),
            }
            .into(),
            sql_url: self.string(19, index),
            remote: self.flag(4, index),
            traced: self.flag(5, index),
        };
        Ok(StoredSpan {
            row,
            document: self.string::<String>(20, index).map(ByteString::from),
            sequence: sequence.get(index).ok_or_else(|| missing(SEQUENCE))?,
        })
    }
}

/// A `list<struct>` column as its offsets and its element fields, by field name.
struct ListColumn {
    offsets: Vec<i64>,
    fields: Vec<Series>,
}

impl ListColumn {
    fn new(frame: &DataFrame, name: &str) -> Result<Self> {
        let list = frame.column(name).and_then(|c| c.list()).map_err(polars_error)?.rechunk();
        let offsets = list.downcast_as_array().offsets().as_slice().to_vec();
        let inner = list.get_inner();
        let fields = inner.struct_().map_err(polars_error)?.fields_as_series();
        let fields = fields.into_iter().map(|field| field.rechunk()).collect();
        Ok(ListColumn { offsets, fields })
    }

    fn range(&self, index: usize) -> std::ops::Range<usize> {
        self.offsets[index] as usize..self.offsets[index + 1] as usize
    }

    fn field(&self, name: &str) -> Option<&Series> {
        self.fields.iter().find(|field| field.name().as_str() == name)
    }

    fn str_at(&self, name: &str, at: usize) -> Option<String> {
        self.field(name)?.str().ok()?.get(at).map(str::to_owned)
    }

    fn exceptions(&self, index: usize) -> Vec<ExceptionSummary> {
        let remote = |at| self.field(EXCEPTION_REMOTE).and_then(|s| s.bool().ok()?.get(at)).unwrap_or(false);
        self.range(index)
            .map(|at| ExceptionSummary {
                name: self.str_at(EXCEPTION_NAME, at),
                message: self.str_at(EXCEPTION_MESSAGE, at),
                remote: remote(at),
            })
            .collect()
    }

    fn annotations(&self, index: usize) -> Vec<(String, AnnotationScalar)> {
        let number = |at| self.field(ANNOTATION_NUMBER).and_then(|s| s.f64().ok()?.get(at));
        let flag = |at| self.field(ANNOTATION_BOOL).and_then(|s| s.bool().ok()?.get(at));
        self.range(index)
            .map(|at| {
                let value = match (self.str_at(ANNOTATION_STRING, at), number(at), flag(at)) {
                    (Some(text), _, _) => AnnotationScalar::String(text),
                    (None, Some(number), _) => AnnotationScalar::Number(number),
                    (None, None, Some(flag)) => AnnotationScalar::Bool(flag),
                    // A number that was NaN is written as NaN, not null; this is unreachable
                    // for blocks Fluoro wrote and keeps a foreign row readable.
                    (None, None, None) => AnnotationScalar::Number(f64::NAN),
                };
                (self.str_at(ANNOTATION_KEY, at).unwrap_or_default(), value)
            })
            .collect()
    }
}
