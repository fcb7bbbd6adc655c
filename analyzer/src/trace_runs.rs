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
    /// Each trace's id halves, by dense id.
    trace_keys: Vec<TraceKey>,
}

/// `(trace_hi, trace_lo)` as values and which of them are present (a null half reads as 0):
/// 32 bytes to sort with the run beside it, where two `Option<u64>` took 40.
type TraceKey = (u64, u64, u8);

fn trace_key(hi: Option<u64>, lo: Option<u64>) -> TraceKey {
    (hi.unwrap_or_default(), lo.unwrap_or_default(), u8::from(hi.is_some()) | u8::from(lo.is_some()) << 1)
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
            None => (SortedRuns::of_runs(runs_with_nulls(his, los)), SortedRuns::default()),
        };
        let leader = first.leaders_with(&second);
        // The halves' keys are read in turn, not copied into one vector: at 10M spans every
        // vector here is tens of megabytes of fresh pages.
        let runs = leader.len();
        let mut ids: Vec<u32> = Vec::with_capacity(runs);
        let mut trace_keys: Vec<TraceKey> = Vec::with_capacity(runs);
        for (run, key) in first.keys.iter().chain(&second.keys).enumerate() {
            let id = if leader[run] as usize == run {
                trace_keys.push(*key);
                trace_keys.len() as u32 - 1
            } else {
                ids[leader[run] as usize]
            };
            ids.push(id);
        }
        let mut starts = first.starts;
        starts.extend(second.starts);
        TraceRuns { starts, ids, rows: his.len(), trace_keys }
    }

    /// How many distinct traces: ids run from 0 to `traces() - 1`.
    pub(crate) fn traces(&self) -> usize {
        self.trace_keys.len()
    }

    /// The `(trace_hi, trace_lo)` of trace `id` (a half is none where the rows' was null).
    pub(crate) fn trace(&self, id: usize) -> (Option<u64>, Option<u64>) {
        let (hi, lo, present) = self.trace_keys[id];
        ((present & 1 != 0).then_some(hi), (present & 2 != 0).then_some(lo))
    }

    /// Each run's rows and trace id, in row order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        self.iter_runs(0..self.starts.len())
    }

    /// How many runs.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// These runs' rows and trace ids, in row order.
    pub(crate) fn iter_runs(
        &self,
        runs: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        let ends = self.starts[runs.start..].iter().skip(1).map(|start| *start as usize).chain([self.rows]);
        let starts = self.starts[runs.clone()].iter().zip(ends);
        starts.zip(&self.ids[runs]).map(|((start, end), id)| (*start as usize..end, *id))
    }

    /// How many traces the first `runs` runs hold: the ids they have are below it.
    pub(crate) fn traces_in_first(&self, runs: usize) -> usize {
        self.ids[..runs].iter().max().map_or(0, |id| *id as usize + 1)
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

/// A half's runs: their traces and first rows, and the traces sorted with their runs.
#[derive(Debug, Default)]
struct SortedRuns {
    keys: Vec<TraceKey>,
    starts: Vec<u32>,
    /// By trace, then by run: the first run of each trace leads its group.
    order: Vec<(TraceKey, u32)>,
}

impl SortedRuns {
    /// The runs of these chunks (ids never null), read as slices without a validity check.
    fn of_chunks(chunks: &[(Chunk<'_>, u32)]) -> Self {
        let (mut keys, mut starts): (Vec<TraceKey>, Vec<u32>) = (Vec::new(), Vec::new());
        // The last run's trace is kept in a local, not read back from `keys` on every row.
        let mut last = None;
        for ((his, los), first_row) in chunks {
            for (row, (hi, lo)) in (*first_row..).zip(his.iter().zip(*los)) {
                if last != Some((*hi, *lo)) {
                    last = Some((*hi, *lo));
                    keys.push((*hi, *lo, 3));
                    starts.push(row);
                }
            }
        }
        SortedRuns::of_runs((keys, starts))
    }

    /// The keys are sorted with their runs, not through the runs' indices (a random read per
    /// comparison). Stable: a block's runs come sorted by trace within each minute, and the
    /// stable sort merges such sorted stretches where the unstable one sorts from scratch (the
    /// whole step took 19 against 25 ms for the 250k runs of 3M spans, on one thread). Keys are
    /// unique with their run, so both give one order.
    fn of_runs((keys, starts): (Vec<TraceKey>, Vec<u32>)) -> Self {
        let mut order: Vec<(TraceKey, u32)> = keys.iter().copied().zip(0..).collect();
        order.sort();
        SortedRuns { keys, starts, order }
    }

    /// Each run's leader, the first run of its trace, over this half's runs and then `later`'s,
    /// numbered after this half's: the two orders are merged as they are walked.
    fn leaders_with(&self, later: &SortedRuns) -> Vec<u32> {
        let offset = self.keys.len() as u32;
        let mut later_order = later.order.iter().map(|(key, run)| (*key, run + offset)).peekable();
        let mut order = self.order.iter().copied().peekable();
        // Every element is written below: filled with a non-zero value rather than `vec![0; n]`,
        // which asks for zeroed memory that jemalloc zeroes by handing recycled pages back to
        // the kernel and faulting them in again.
        let mut leader = vec![u32::MAX; self.keys.len() + later.keys.len()];
        let mut group: Option<(TraceKey, u32)> = None;
        while let Some((key, run)) = match (order.peek(), later_order.peek()) {
            (Some(first), Some(second)) if second < first => later_order.next(),
            (Some(_), _) => order.next(),
            (None, _) => later_order.next(),
        } {
            let lead = match group {
                Some((group_key, lead)) if group_key == key => lead,
                _ => run,
            };
            leader[run as usize] = lead;
            group = Some((key, lead));
        }
        leader
    }
}

/// Each run's trace and first row, any id possibly null.
fn runs_with_nulls(his: &UInt64Chunked, los: &UInt64Chunked) -> (Vec<TraceKey>, Vec<u32>) {
    let (mut keys, mut starts): (Vec<TraceKey>, Vec<u32>) = (Vec::new(), Vec::new());
    for (row, (hi, lo)) in (0u32..).zip(his.iter().zip(los.iter())) {
        let trace = trace_key(hi, lo);
        if keys.last() != Some(&trace) {
            keys.push(trace);
            starts.push(row);
        }
    }
    (keys, starts)
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
        let traces: Vec<_> = (0..4).map(|id| runs.trace(id)).collect();
        assert_eq!(traces, vec![(Some(5), Some(2)), (Some(1), Some(9)), (None, None), (Some(3), Some(4))]);
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
        let traces: Vec<_> = (0..4).map(|id| runs.trace(id)).collect();
        assert_eq!(traces, vec![(Some(5), Some(2)), (Some(1), Some(9)), (Some(3), Some(4)), (Some(7), Some(8))]);
        let one_chunk = TraceRuns::of(&his.rechunk(), &los.rechunk());
        assert_eq!(row_ids(&one_chunk), row_ids(&runs));
        assert_eq!(runs.len(), one_chunk.len() + 1, "the cut run counts twice");
    }
}
