//! Log records beside the spans: a [`SignalStore`] of [`LogRow`]s (`signal.rs` holds the log,
//! recent rows, flushes, retention and recovery), with log blocks of their own schema
//! (`block.rs`) and reads (`query.rs`): the lines of a trace (optionally of one span) in time
//! order, and a search by service, minimum severity, text and time range, newest first, a page
//! at a time.

mod block;
mod query;

use std::path::Path;

use fluoro_proto::LogRow;

use crate::block::WrittenBlock;
use crate::error::Result;
use crate::signal::{SignalRow, SignalStore, Stored};

pub(crate) use query::merge_pages;
pub use query::{LogCursor, LogPage, LogQuery, MAX_LOG_PAGE};

/// The log records of the store, in `<data_dir>/logs/`.
pub(crate) type LogStore = SignalStore<LogRow>;
type StoredLog = Stored<LogRow>;

impl SignalRow for LogRow {
    const FOLDER: &'static str = "logs";

    fn write_block(blocks_dir: &Path, id: u64, rows: Vec<StoredLog>) -> Result<WrittenBlock> {
        block::write_log_block(blocks_dir, id, rows)
    }
}
