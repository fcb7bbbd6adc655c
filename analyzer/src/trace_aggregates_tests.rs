//! The per-trace fold on hand-made span rows: which segment is the root, what each trace folds
//! into, and which traces each range type selects, with a trace's rows apart in the input (as
//! when a trace has spans in two blocks).

#![allow(clippy::unwrap_used)]

use super::*;

/// One span row: (trace, id, parent, kind, start, end, in progress, fault).
type Row = (u64, u64, Option<u64>, &'static str, i64, Option<i64>, bool, bool);

fn spans(rows: &[Row]) -> DataFrame {
    let column = |name: &str, values: Series| values.with_name(name.into()).into_column();
    DataFrame::new_infer_height(vec![
        column(TRACE_HI, Series::new("".into(), rows.iter().map(|row| row.0).collect::<Vec<u64>>())),
        column(TRACE_LO, Series::new("".into(), rows.iter().map(|row| row.0 * 7).collect::<Vec<u64>>())),
        column(columns::ID, Series::new("".into(), rows.iter().map(|row| row.1).collect::<Vec<u64>>())),
        column(columns::PARENT_ID, Series::new("".into(), rows.iter().map(|row| row.2).collect::<Vec<Option<u64>>>())),
        column(columns::KIND, Series::new("".into(), rows.iter().map(|row| row.3).collect::<Vec<&str>>())),
        column(columns::START_US, Series::new("".into(), rows.iter().map(|row| row.4).collect::<Vec<i64>>())),
        column(columns::END_US, Series::new("".into(), rows.iter().map(|row| row.5).collect::<Vec<Option<i64>>>())),
        column(columns::IN_PROGRESS, Series::new("".into(), rows.iter().map(|row| row.6).collect::<Vec<bool>>())),
        column(columns::ERROR, Series::new("".into(), rows.iter().map(|_| false).collect::<Vec<bool>>())),
        column(columns::FAULT, Series::new("".into(), rows.iter().map(|row| row.7).collect::<Vec<bool>>())),
        column(columns::THROTTLE, Series::new("".into(), rows.iter().map(|_| false).collect::<Vec<bool>>())),
    ])
    .unwrap()
}

/// The folded traces by `trace_hi`: (start, end, matched, spans, partial, root id).
type Folded = (Option<i64>, Option<i64>, Option<i64>, u32, bool, Option<u64>);

fn folded(frame: &DataFrame) -> std::collections::BTreeMap<u64, Folded> {
    let get_i64 = |name: &str| frame.column(name).unwrap().i64().unwrap().clone();
    let (starts, ends, matched) = (get_i64(columns::START_US), get_i64(columns::END_US), get_i64("matched_us"));
    let spans = frame.column("spans").unwrap().idx().unwrap().clone();
    let partial = frame.column("partial").unwrap().bool().unwrap().clone();
    let root = frame.column("root_id").unwrap().u64().unwrap().clone();
    let his = frame.column(TRACE_HI).unwrap().u64().unwrap().clone();
    (0..frame.height())
        .map(|at| {
            let folded = (
                starts.get(at),
                ends.get(at),
                matched.get(at),
                spans.get(at).unwrap(),
                partial.get(at).unwrap(),
                root.get(at),
            );
            (his.get(at).unwrap(), folded)
        })
        .collect()
}

#[test]
fn the_root_is_the_earliest_parentless_segment_then_the_smallest_id() {
    let rows = [
        (1, 30, Some(9), "segment", 100, Some(150), false, false), // has a parent
        (1, 20, None, "segment", 120, Some(200), false, true),
        (2, 5, None, "segment", 100, Some(110), false, false),
        (1, 10, None, "segment", 120, Some(190), false, false), // same start, smaller id: the root
        (1, 40, Some(10), "subsegment", 90, Some(300), false, true),
    ];
    let frame = trace_aggregates(&spans(&rows), 0, 1_000, TimeRangeType::TraceId, &[]).unwrap();
    let traces = folded(&frame);
    assert_eq!(traces[&1], (Some(90), Some(300), Some(90), 4, false, Some(10)));
    assert_eq!(traces[&2], (Some(100), Some(110), Some(100), 1, false, Some(5)));
    let fault = frame.column("root_fault").unwrap().bool().unwrap();
    let his = frame.column(TRACE_HI).unwrap().u64().unwrap();
    let one = (0..frame.height()).find(|at| his.get(*at) == Some(1)).unwrap();
    assert_eq!(fault.get(one), Some(false), "the root's fault, not the later segment's");
}

#[test]
fn without_a_parentless_segment_the_earliest_segment_is_the_root_and_without_any_none() {
    let rows = [
        (1, 30, Some(9), "segment", 150, Some(160), false, false),
        (1, 31, Some(9), "segment", 140, None, true, false), // open: ends at its start
        (2, 7, Some(3), "subsegment", 100, Some(105), false, false),
    ];
    let traces = folded(&trace_aggregates(&spans(&rows), 0, 1_000, TimeRangeType::TraceId, &[]).unwrap());
    assert_eq!(traces[&1], (Some(140), Some(160), Some(140), 2, true, Some(31)));
    assert_eq!(traces[&2], (Some(100), Some(105), Some(100), 1, false, None));
}

#[test]
fn trace_id_ranges_select_by_trace_start_and_event_ranges_by_any_span() {
    let rows = [
        (1, 1, None, "segment", 50, Some(400), false, false), // starts before the range
        (1, 2, Some(1), "subsegment", 250, Some(260), false, false),
        (2, 3, None, "segment", 210, Some(220), false, false),
        (3, 4, None, "segment", 10, Some(20), false, false), // no span in the range
    ];
    let (from, to) = (200, 300);
    let by_start = folded(&trace_aggregates(&spans(&rows), from, to, TimeRangeType::TraceId, &[]).unwrap());
    assert_eq!(by_start.keys().copied().collect::<Vec<_>>(), [2]);
    let by_event = folded(&trace_aggregates(&spans(&rows), from, to, TimeRangeType::Event, &[]).unwrap());
    assert_eq!(by_event.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(by_event[&1], (Some(50), Some(400), Some(250), 2, false, Some(1)));
}

#[test]
fn a_frame_in_several_chunks_folds_as_in_one() {
    let rows = [
        (1, 30, Some(9), "segment", 100, Some(150), false, false),
        (1, 20, None, "segment", 120, Some(200), false, true),
        (2, 5, None, "segment", 100, Some(110), false, false),
        (1, 10, None, "segment", 120, Some(190), true, false),
        (1, 40, Some(10), "subsegment", 90, Some(300), false, true),
        (3, 4, None, "segment", 10, None, false, false),
    ];
    let whole = folded(&trace_aggregates(&spans(&rows), 0, 1_000, TimeRangeType::TraceId, &[]).unwrap());
    // Chunks of 2, 1 and 3 rows; trace 1's rows lie in all three.
    let mut chunked = spans(&rows[..2]);
    chunked.vstack_mut(&spans(&rows[2..3])).unwrap();
    chunked.vstack_mut(&spans(&rows[3..])).unwrap();
    assert_eq!(chunked.column(TRACE_HI).unwrap().n_chunks(), 3, "the test needs a frame in three chunks");
    let in_chunks = folded(&trace_aggregates(&chunked, 0, 1_000, TimeRangeType::TraceId, &[]).unwrap());
    assert_eq!(in_chunks, whole);
    assert_eq!(in_chunks[&1], (Some(90), Some(300), Some(90), 4, true, Some(10)));
    // Every column alike, the ids and the root's values read from their rows among the chunks.
    let frame = |spans: &DataFrame| trace_aggregates(spans, 0, 1_000, TimeRangeType::TraceId, &[]).unwrap();
    let (one, three) = (frame(&spans(&rows)), frame(&chunked));
    assert!(three.equals_missing(&one), "{three}\n{one}");
    let root = |name: &str, trace: usize| three.column(name).unwrap().get(trace).unwrap().to_string();
    // Trace 1's root is row 3 (id 10, no parent, earliest of those): its end and flags.
    let trace_1 = three.column(TRACE_HI).unwrap().u64().unwrap().iter().position(|hi| hi == Some(1)).unwrap();
    assert_eq!((root("root_end_us", trace_1), root("root_fault", trace_1)), ("190".to_owned(), "false".to_owned()));
    assert_eq!(three.column(TRACE_LO).unwrap().u64().unwrap().get(trace_1), Some(7));
}

#[test]
fn a_sliced_chunk_with_nulls_reads_its_rows_as_polars_does() {
    let rows: Vec<Row> = (0..24)
        .map(|n| {
            let parent = (n % 3 != 0).then_some(n + 100);
            (
                n / 4,
                n,
                parent,
                if n % 2 == 0 { "segment" } else { "subsegment" },
                n as i64,
                Some(n as i64 + 5),
                false,
                false,
            )
        })
        .collect();
    let mut frame = spans(&rows);
    // Kinds with nulls and a string of the segment's length that is not one.
    let kinds: Vec<Option<&str>> =
        (0..24).map(|n| [None, Some("segment"), Some("subsegment"), Some("segmenT")][n % 4]).collect();
    frame.with_column(Series::new(columns::KIND.into(), kinds.clone()).into_column()).unwrap();
    // Sliced: the arrays' bitmaps start at an offset that is not a multiple of 8.
    let sliced = frame.slice(5, 18);
    let chunks = FoldChunk::of(&sliced).unwrap();
    assert_eq!(chunks.len(), 1);
    let parents = sliced.column(columns::PARENT_ID).unwrap().u64().unwrap();
    for row in 0..18 {
        assert_eq!(chunks[0].parents.get(row), parents.get(row), "parent of row {row}");
        assert_eq!(chunks[0].is_segment(row), kinds[row + 5] == Some("segment"), "kind of row {row}");
    }
}

proptest::proptest! {
    /// The branch-free pass over rows whose times are all present folds as the row-by-row one.
    #[test]
    fn times_folded_as_slices_equal_times_folded_row_by_row(
        times in proptest::collection::vec((0i64..100, 0i64..100), 1..40),
        range in (0i64..100, 0i64..100),
        before in proptest::option::of((0i64..100, 0i64..100)),
    ) {
        let rows: Vec<Row> = times.iter().map(|(start, length)| (1, 1, None, "subsegment", *start, Some(start + length), false, false)).collect();
        let frame = spans(&rows);
        let chunks = FoldChunk::of(&frame).unwrap();
        let (from_us, to_us) = (range.0.min(range.1), range.0.max(range.1));
        // A trace that may have folded other rows already.
        let mut sliced = Trace::new((1, 7, 3));
        if let Some((start, end)) = before {
            sliced.add_times(Some(start), Some(end), from_us, to_us);
        }
        let mut by_row = sliced.clone();
        chunks[0].fold_times(&mut sliced, 0..rows.len(), (from_us, to_us));
        for (start, length) in &times {
            by_row.add_times(Some(*start), Some(start + length), from_us, to_us);
        }
        proptest::prop_assert_eq!((sliced.start_us(), sliced.end_us(), sliced.matched_us()), (by_row.start_us(), by_row.end_us(), by_row.matched_us()));
    }
}

#[test]
fn traces_in_blocks_are_found_by_index_across_blocks() {
    let count = 2 * TRACES_PER_BLOCK + 5;
    let mut traces = TraceBlocks::default();
    for spans in 0..count {
        let mut trace = Trace::new((1, 7, 3));
        trace.spans = spans as IdxSize;
        traces.push(trace);
    }
    assert_eq!((traces.len(), traces.blocks.len()), (count, 3));
    traces.get_mut(TRACES_PER_BLOCK + 1).spans = 7;
    let spans: Vec<IdxSize> = traces.iter().map(|trace| trace.spans).collect();
    assert_eq!(spans.len(), count);
    assert_eq!(spans[TRACES_PER_BLOCK + 1], 7);
    assert!(spans.iter().enumerate().all(|(at, spans)| at == TRACES_PER_BLOCK + 1 || *spans as usize == at));
}

/// The fold as written plainly: each trace's rows gathered in first-appearance order, folded
/// in row order, the root the first segment of smallest key. Rows as [`spans`] builds them.
/// Each trace's fold and its root's end.
fn folded_plainly(rows: &[Row], from_us: i64, to_us: i64) -> Vec<(u64, Folded, Option<i64>)> {
    let mut traces: Vec<(u64, Vec<&Row>)> = Vec::new();
    for row in rows {
        match traces.iter_mut().find(|(trace, _)| *trace == row.0) {
            Some((_, rows)) => rows.push(row),
            None => traces.push((row.0, vec![row])),
        }
    }
    let fold = |rows: &[&Row]| -> (Folded, Option<i64>) {
        let start = rows.iter().map(|row| row.4).min();
        let end = rows.iter().map(|row| row.5.unwrap_or(row.4)).max();
        let matched = rows.iter().map(|row| row.4).filter(|start| *start >= from_us && *start < to_us).min();
        let partial = rows.iter().any(|row| row.6);
        let mut root: Option<(RootKey, &Row)> = None;
        for row in rows.iter().filter(|row| row.3 == "segment") {
            let key = (row.2.is_some(), Some(row.4), Some(row.1));
            if root.is_none_or(|(current, _)| key < current) {
                root = Some((key, row));
            }
        }
        let (id, end_us) = root.map_or((None, None), |(_, row)| (Some(row.1), row.5));
        ((start, end, matched, rows.len() as u32, partial, id), end_us)
    };
    traces
        .iter()
        .map(|(trace, rows)| {
            let (folded, root_end) = fold(rows);
            (*trace, folded, root_end)
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Traces whose rows lie in several runs, chunks and both halves fold as the plain fold
    /// does, in the order they first appear, whatever the chunks.
    #[test]
    fn runs_folded_on_two_threads_and_merged_equal_the_plain_fold(
        rows in proptest::collection::vec(
            // Few ids and starts, so that segments of a trace often tie on their key.
            (0u64..6, 0u64..3, proptest::option::of(0u64..4), proptest::bool::ANY, 0i64..8, proptest::option::of(0i64..12), proptest::bool::weighted(0.1)),
            1..60,
        ),
        cuts in proptest::collection::vec(0usize..60, 0..4),
        range in (0i64..8, 0i64..8),
        in_runs in proptest::bool::ANY,
    ) {
        let mut rows: Vec<Row> = rows
            .into_iter()
            .map(|(trace, id, parent, segment, start, end, partial)| {
                (trace, id, parent, if segment { "segment" } else { "subsegment" }, start, end, partial, false)
            })
            .collect();
        if in_runs {
            // Long runs of one trace, as blocks keep them.
            rows.sort_by_key(|row| row.0);
        }
        let (from_us, to_us) = (range.0.min(range.1), range.0.max(range.1) + 1);
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|cut| *cut > 0 && *cut < rows.len()).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunked = spans(&rows[..cuts.first().copied().unwrap_or(rows.len())]);
        for (at, cut) in cuts.iter().enumerate() {
            chunked.vstack_mut(&spans(&rows[*cut..cuts.get(at + 1).copied().unwrap_or(rows.len())])).unwrap();
        }
        let frame = trace_aggregates(&chunked, from_us, to_us, TimeRangeType::Event, &[]).unwrap();
        let his = frame.column(TRACE_HI).unwrap().u64().unwrap();
        let in_order: Vec<u64> = his.into_no_null_iter().collect();
        let plain = folded_plainly(&rows, from_us, to_us);
        let plain: Vec<_> = plain.into_iter().filter(|(_, folded, _)| folded.2.is_some()).collect();
        let expected: Vec<u64> = plain.iter().map(|(trace, _, _)| *trace).collect();
        proptest::prop_assert_eq!(&in_order, &expected, "traces in first-appearance order");
        let by_trace = folded(&frame);
        // The durations read off the fold are the frame's, by trace start.
        let by_start = trace_aggregates(&chunked, from_us, to_us, TimeRangeType::TraceId, &[]).unwrap();
        let difference = |from: &str, to: &str| -> Vec<i64> {
            let (from, to) = (by_start.column(from).unwrap().i64().unwrap(), by_start.column(to).unwrap().i64().unwrap());
            from.iter().zip(to.iter()).filter_map(|(from, to)| Some(to? - from?)).collect()
        };
        let durations = trace_durations(&chunked, from_us, to_us).unwrap();
        proptest::prop_assert_eq!(durations.traces, by_start.height());
        proptest::prop_assert_eq!(&durations.durations_us, &difference(columns::START_US, columns::END_US));
        proptest::prop_assert_eq!(&durations.response_times_us, &difference("root_start_us", "root_end_us"));
        let root_ends = frame.column("root_end_us").unwrap().i64().unwrap();
        for (at, (trace, folded, root_end)) in plain.iter().enumerate() {
            proptest::prop_assert_eq!(&by_trace[trace], folded, "trace {}", trace);
            // Of segments with equal keys, the first row's end: the earlier row stays.
            proptest::prop_assert_eq!(root_ends.get(at), *root_end, "trace {}'s root", trace);
        }
    }
}

#[test]
fn a_null_trace_id_half_is_a_trace_of_its_own_not_a_zero() {
    let mut frame = spans(&[
        (0, 1, None, "segment", 10, Some(20), false, false),
        (0, 2, None, "segment", 11, Some(30), false, false),
        (0, 3, None, "segment", 12, Some(40), false, false),
    ]);
    // Row 1's `trace_hi` is null; rows 0 and 2 (hi 0) are one trace, in two runs.
    frame.with_column(Series::new(TRACE_HI.into(), [Some(0u64), None, Some(0)]).into_column()).unwrap();
    frame.with_column(Series::new(TRACE_LO.into(), [0u64, 0, 0]).into_column()).unwrap();
    let traces = trace_aggregates(&frame, 0, 100, TimeRangeType::TraceId, &[]).unwrap();
    let his: Vec<Option<u64>> = traces.column(TRACE_HI).unwrap().u64().unwrap().iter().collect();
    let spans: Vec<Option<IdxSize>> = traces.column("spans").unwrap().idx().unwrap().iter().collect();
    assert_eq!((his, spans), (vec![Some(0), None], vec![Some(2), Some(1)]));
    let ends: Vec<Option<i64>> = traces.column(columns::END_US).unwrap().i64().unwrap().iter().collect();
    assert_eq!(ends, vec![Some(40), Some(30)]);
}
