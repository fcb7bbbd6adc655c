//! Dense trace ids for the rows of a scan. Blocks keep a trace's rows together, so the rows
//! come in runs of one trace: the runs are sorted by trace and numbered, which costs a fraction
//! of hashing each run's trace into a map of every trace of the window (hundreds of thousands of
//! traces at a few million spans, a map far larger than the caches: 45 against 18 ms for the
//! service graph's 2.5M spans).

use polars::prelude::*;

use crate::threads::joined;

/// The runs of rows of one trace, each with its trace's dense id; ids are numbered in order of
/// first appearance, so a trace's first run is the first with its id.
#[derive(Debug)]
pub(crate) struct TraceRuns {
    /// Each run's first row; a run ends where the next begins, the last at `rows`.
    starts: Vec<u32>,
    ids: Vec<u32>,
    rows: usize,
    traces: usize,
}

/// `(trace_hi, trace_lo)` as values and which of them are present (a null half reads as 0).
pub(crate) type TraceKey = (u64, u64, u8);

pub(crate) fn trace_key(hi: Option<u64>, lo: Option<u64>) -> TraceKey {
    (hi.unwrap_or_default(), lo.unwrap_or_default(), u8::from(hi.is_some()) | u8::from(lo.is_some()) << 1)
}

/// The halves of a trace id, a half none where it was null.
pub(crate) fn trace_halves((hi, lo, present): TraceKey) -> (Option<u64>, Option<u64>) {
    ((present & 1 != 0).then_some(hi), (present & 2 != 0).then_some(lo))
}

/// A run's trace and its index among the runs, ordered by trace, then by run: 24 bytes to
/// sort, where a `(TraceKey, u32)` takes 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RunKey {
    hi: u64,
    lo: u64,
    present: u8,
    pub(crate) run: u32,
}

impl RunKey {
    pub(crate) fn new((hi, lo, present): TraceKey, run: u32) -> Self {
        RunKey { hi, lo, present, run }
    }

    pub(crate) fn trace(&self) -> TraceKey {
        (self.hi, self.lo, self.present)
    }
}

/// Sorts a half's runs by trace. Stable: a block's runs come sorted by trace within each
/// minute, and the stable sort merges such sorted stretches where the unstable one sorts from
/// scratch (the whole step took 19 against 25 ms for the 250k runs of 3M spans, on one thread).
/// Keys are unique with their run, so both give one order.
pub(crate) fn sort_runs(order: &mut [RunKey]) {
    order.sort();
}

/// Two halves' runs sorted by trace, merged as they are walked into one order by trace and
/// then by run: the later half's runs are numbered after the `earlier_runs` of the first.
pub(crate) fn merged_orders<'a>(
    first: &'a [RunKey],
    second: &'a [RunKey],
    earlier_runs: u32,
) -> impl Iterator<Item = RunKey> + 'a {
    let mut later = second.iter().map(move |key| RunKey { run: key.run + earlier_runs, ..*key }).peekable();
    let mut earlier = first.iter().copied().peekable();
    std::iter::from_fn(move || match (earlier.peek(), later.peek()) {
        (Some(first), Some(second)) if second < first => later.next(),
        (Some(_), _) => earlier.next(),
        (None, _) => later.next(),
    })
}

impl TraceRuns {
    /// The runs of two trace-id columns of the same length. Each half of the rows is cut into
    /// runs and its runs sorted on a thread of its own (the machine has two cores); a run the
    /// halves' boundary cuts counts as two runs of one trace.
    pub(crate) fn of(his: &UInt64Chunked, los: &UInt64Chunked) -> Self {
        let (first, second) = match halves(his, los) {
            Some([first, second]) => std::thread::scope(|scope| {
                let second = scope.spawn(|| SortedRuns::of_chunks(&second));
                (SortedRuns::of_chunks(&first), joined(second))
            }),
            None => (runs_with_nulls(his, los), SortedRuns::default()),
        };
        let leader = first.leaders_with(&second);
        // A run's leader comes before it, so its id is known by then.
        let mut ids: Vec<u32> = Vec::with_capacity(leader.len());
        let mut traces = 0;
        for (run, leader) in leader.iter().enumerate() {
            let id = if *leader as usize == run {
                traces += 1;
                traces - 1
            } else {
                ids[*leader as usize]
            };
            ids.push(id);
        }
        let mut starts = first.starts;
        starts.extend(second.starts);
        TraceRuns { starts, ids, rows: his.len(), traces: traces as usize }
    }

    /// How many distinct traces: ids run from 0 to `traces() - 1`.
    pub(crate) fn traces(&self) -> usize {
        self.traces
    }

    /// Each run's rows and trace id, in row order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        let ends = self.starts.iter().skip(1).map(|start| *start as usize).chain([self.rows]);
        let starts = self.starts.iter().zip(ends);
        starts.zip(&self.ids).map(|((start, end), id)| (*start as usize..end, *id))
    }
}

/// One chunk's trace-id halves as slices.
type Chunk<'a> = (&'a [u64], &'a [u64]);

/// The chunks of the two columns split into two halves of about equal rows, each chunk with
/// its first row; none when an id is null or the columns are chunked differently.
fn halves<'a>(his: &'a UInt64Chunked, los: &'a UInt64Chunked) -> Option<[Vec<(Chunk<'a>, u32)>; 2]> {
    if his.null_count() + los.null_count() > 0 || his.chunk_lengths().ne(los.chunk_lengths()) {
        return None;
    }
    let (mut halves, mut first_row, middle) = ([Vec::new(), Vec::new()], 0u32, his.len() / 2);
    for (his, los) in his.downcast_iter().zip(los.downcast_iter()) {
        let half = usize::from(first_row as usize >= middle);
        halves[half].push(((his.values().as_slice(), los.values().as_slice()), first_row));
        first_row += his.len() as u32;
    }
    Some(halves)
}

/// A half's runs: their first rows, and their traces sorted with them.
#[derive(Debug, Default)]
struct SortedRuns {
    starts: Vec<u32>,
    /// By trace, then by run: the first run of each trace leads its group.
    order: Vec<RunKey>,
}

impl SortedRuns {
    /// The runs of these chunks (ids never null), read as slices without a validity check.
    fn of_chunks(chunks: &[(Chunk<'_>, u32)]) -> Self {
        let mut runs = SortedRuns::default();
        // The last run's trace is kept in a local, not read back from `order` on every row.
        let mut last = None;
        for ((his, los), first_row) in chunks {
            for (row, (hi, lo)) in (*first_row..).zip(his.iter().zip(*los)) {
                if last != Some((*hi, *lo)) {
                    last = Some((*hi, *lo));
                    runs.push((*hi, *lo, 3), row);
                }
            }
        }
        sort_runs(&mut runs.order);
        runs
    }

    fn push(&mut self, trace: TraceKey, first_row: u32) {
        self.order.push(RunKey::new(trace, self.starts.len() as u32));
        self.starts.push(first_row);
    }

    /// Each run's leader, the first run of its trace, over this half's runs and then `later`'s,
    /// numbered after this half's.
    fn leaders_with(&self, later: &SortedRuns) -> Vec<u32> {
        let mut leader = vec![u32::MAX; self.starts.len() + later.starts.len()];
        let mut group: Option<RunKey> = None;
        for key in merged_orders(&self.order, &later.order, self.starts.len() as u32) {
            let lead = match group {
                Some(lead) if lead.trace() == key.trace() => lead,
                _ => key,
            };
            leader[key.run as usize] = lead.run;
            group = Some(lead);
        }
        leader
    }
}

/// Each run's trace and first row, any id possibly null, sorted.
fn runs_with_nulls(his: &UInt64Chunked, los: &UInt64Chunked) -> SortedRuns {
    let mut runs = SortedRuns::default();
    let mut last = None;
    for (row, (hi, lo)) in (0u32..).zip(his.iter().zip(los.iter())) {
        let trace = trace_key(hi, lo);
        if last != Some(trace) {
            last = Some(trace);
            runs.push(trace, row);
        }
    }
    sort_runs(&mut runs.order);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row's trace id, from the runs.
    fn row_ids(runs: &TraceRuns) -> Vec<u32> {
        runs.iter().flat_map(|(rows, id)| rows.map(move |_| id)).collect()
    }

    #[test]
    fn a_trace_seen_in_several_runs_gets_one_id_numbered_by_first_appearance() {
        // Two blocks' rows, each sorted by trace; trace (1, 9) is in both, one row has no trace.
        let his = UInt64Chunked::new("hi".into(), &[Some(5), Some(1), Some(1), Some(5), None, Some(3), Some(1)]);
        let los = UInt64Chunked::new("lo".into(), &[Some(2), Some(9), Some(9), Some(2), None, Some(4), Some(9)]);
        let runs = TraceRuns::of(&his, &los);
        assert_eq!(row_ids(&runs), vec![0, 1, 1, 0, 2, 3, 1]);
        assert_eq!(runs.traces(), 4);
        let listed: Vec<_> = runs.iter().collect();
        assert_eq!(listed, vec![(0..1, 0), (1..3, 1), (3..4, 0), (4..5, 2), (5..6, 3), (6..7, 1)]);
        let no_nulls = TraceRuns::of(&his.slice(0, 4), &los.slice(0, 4));
        assert_eq!((row_ids(&no_nulls), no_nulls.traces()), (vec![0, 1, 1, 0], 2));
        let empty = TraceRuns::of(&his.slice(0, 0), &los.slice(0, 0));
        assert_eq!(
            TraceRuns::of(&UInt64Chunked::new("".into(), &[] as &[u64]), &UInt64Chunked::new("".into(), &[] as &[u64]))
                .traces(),
            0
        );
        assert_eq!((row_ids(&empty), empty.traces(), empty.iter().count()), (vec![], 0, 0));
    }

    #[test]
    fn halves_read_on_two_threads_number_traces_as_one_pass_does() {
        // Three chunks; the halves split before the third, which cuts trace 3's run in two.
        let chunked = |values: &[&[u64]]| {
            let mut column = UInt64Chunked::new("".into(), values[0]);
            values[1..].iter().for_each(|chunk| column.append(&UInt64Chunked::new("".into(), *chunk)).unwrap());
            column
        };
        let his = chunked(&[&[5, 1, 1], &[1, 5, 3], &[3, 7, 1]]);
        let los = chunked(&[&[2, 9, 9], &[9, 2, 4], &[4, 8, 9]]);
        assert_eq!(his.chunks().len(), 3);
        let runs = TraceRuns::of(&his, &los);
        assert_eq!(row_ids(&runs), vec![0, 1, 1, 1, 0, 2, 2, 3, 1]);
        assert_eq!(runs.traces(), 4);
        let one_chunk = TraceRuns::of(&his.rechunk(), &los.rechunk());
        assert_eq!(row_ids(&one_chunk), row_ids(&runs));
        assert_eq!(runs.iter().count(), one_chunk.iter().count() + 1, "the cut run counts twice");
    }
}
